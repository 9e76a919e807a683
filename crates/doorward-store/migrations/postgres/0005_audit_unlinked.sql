-- Audit rows are written without their hash-chain link and linked right
-- after their commit (see `postgres::chainer`), so there are always a few
-- rows with seq NULL, and the chainer asks for them, oldest first, after
-- every commit. This index holds only those rows: the query reads them in
-- order from it instead of scanning the whole table (the planner chose a
-- sequential scan whenever the statistics were taken while many rows waited).
CREATE INDEX audit_events_unlinked_idx ON audit_events (at, id) WHERE seq IS NULL;
