//! Column lists shared by the SQL of both engines.

/// `columns` (comma-separated) with a table alias, for joins of tables that
/// share column names: `prefixed("s", "id, user_id")` is `"s.id, s.user_id"`.
pub(crate) fn prefixed(alias: &str, columns: &str) -> String {
    columns
        .split(',')
        .map(|c| format!("{alias}.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_column_gets_the_alias() {
        assert_eq!(
            super::prefixed("u", "id, email,\n  roles"),
            "u.id, u.email, u.roles"
        );
    }
}
