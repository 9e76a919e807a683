// Doorward's pages end to end in headless Chromium (Debian's package, driven
// by playwright-core): the flows a person goes through, against a real
// `doorward serve` started by run.sh. Screenshots of the main pages go to
// ./artifacts/. Exits non-zero when any flow fails.
//
// Env: DOORWARD_URL (the server), OUTBOX_DIR (its mail.outbox_dir),
//      CHROMIUM (default /usr/bin/chromium), ARTIFACTS (default ./artifacts),
//      SKIP_MAIL=1 to skip the flows that need mail (forgot/reset).

import { chromium } from "playwright-core";
import fs from "node:fs";
import path from "node:path";
import assert from "node:assert/strict";

const base = process.env.DOORWARD_URL;
const outbox = process.env.OUTBOX_DIR;
const artifacts = process.env.ARTIFACTS || path.join(path.dirname(new URL(import.meta.url).pathname), "artifacts");
fs.mkdirSync(artifacts, { recursive: true });
assert.ok(base, "DOORWARD_URL is required");

const PASSWORD = "correct horse battery staple";
const NEW_PASSWORD = "a whole new passphrase";
const run = Date.now().toString(36);
const email = `ada.${run}@example.com`;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
});

// Every page: no script error, no dialog (an XSS would open one), and no
// CSP violation (inline script or style would be one).
const problems = [];
async function newPage(options = {}) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 800 }, ...options });
  const page = await context.newPage();
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("dialog", async (d) => {
    problems.push(`dialog opened: ${d.message()}`);
    await d.dismiss();
  });
  page.on("console", (m) => {
    // A form answered 4xx on purpose logs "Failed to load resource"; CSP
    // violations ("Refused to ...") and script errors count.
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) {
      problems.push(`console error: ${m.text()}`);
    }
  });
  return { context, page };
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(artifacts, `${name}.png`), fullPage: true });
}

const field = (page, label) => page.getByLabel(label, { exact: true });

async function logIn(page, login, password) {
  await page.goto(`${base}/login`);
  await field(page, "Email").fill(login);
  await field(page, "Password").fill(password);
  await page.getByRole("button", { name: "Log in" }).click();
}

/** The reset link of the newest mail to `to` in the outbox (decoding quoted-printable). */
async function mailedLink(to, linkPath, after) {
  for (let i = 0; i < 50; i++) {
    const files = fs.existsSync(outbox) ? fs.readdirSync(outbox).filter((f) => f.endsWith(".eml")).sort() : [];
    for (const f of files.reverse()) {
      const full = path.join(outbox, f);
      if (fs.statSync(full).mtimeMs < after) continue;
      const raw = fs.readFileSync(full, "utf8");
      const text = raw.replace(/=\r?\n/g, "").replace(/=3D/gi, "=");
      if (!text.toLowerCase().includes(to.toLowerCase())) continue;
      const m = text.match(new RegExp(`${linkPath.replace("/", "\\/")}\\?token=([A-Za-z0-9_-]+)`));
      if (m) return `${linkPath}?token=${m[1]}`;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`no mail with a ${linkPath} link to ${to} in ${outbox}`);
}

const flows = [];
const flow = (name, fn) => flows.push({ name, fn });

const { context: main, page } = await newPage();

flow("sign up", async () => {
  await page.goto(`${base}/signup`);
  await shot(page, "01-signup");
  await field(page, "Email").fill(email);
  await field(page, "Password").fill(PASSWORD);
  await shot(page, "02-signup-filled");
  await page.getByRole("button", { name: "Sign up" }).click();
  await page.waitForURL(`${base}/account`);
  await page.getByText(email).first().waitFor();
  await shot(page, "03-account");
});

flow("log out", async () => {
  await page.getByRole("button", { name: "Log out" }).click();
  await page.waitForURL(/\/login/);
  await page.getByText("You are logged out.").waitFor();
  await page.goto(`${base}/account`);
  await page.waitForURL(/\/login\?return_to=/);
});

flow("wrong password gets a message", async () => {
  await logIn(page, email, "not the password");
  const alert = page.getByRole("alert");
  await alert.waitFor();
  assert.match(await alert.innerText(), /Wrong email, username or password/);
  await shot(page, "04-login-wrong-password");
});

flow("log in", async () => {
  await page.goto(`${base}/login`);
  await shot(page, "05-login");
  await logIn(page, email, PASSWORD);
  await page.waitForURL(`${base}/account`);
});

flow("change password", async () => {
  await field(page, "Current password").fill("wrong current password");
  await field(page, "New password").fill(NEW_PASSWORD);
  await page.getByRole("button", { name: "Change password" }).click();
  await page.getByText("The current password is not right.").waitFor();
  await shot(page, "06-change-password-error");
  await field(page, "Current password").fill(PASSWORD);
  await field(page, "New password").fill(NEW_PASSWORD);
  await page.getByRole("button", { name: "Change password" }).click();
  await page.getByText("Your password is changed").waitFor();
});

flow("revoke another session from a second browser", async () => {
  const { context: other, page: p2 } = await newPage({ userAgent: "Mozilla/5.0 (iPhone) Safari/605.1" });
  await logIn(p2, email, NEW_PASSWORD);
  await p2.waitForURL(`${base}/account`);
  await page.goto(`${base}/account`);
  await shot(page, "07-account-two-sessions");
  await page.getByRole("button", { name: /Sign out the session from Safari on iPhone/ }).click();
  await page.getByText("That session is signed out.").waitFor();
  await p2.goto(`${base}/account`);
  await p2.waitForURL(/\/login/);
  await other.close();
});

flow("a form without its CSRF token is refused", async () => {
  await page.goto(`${base}/account`);
  await page.locator('form[action="/account/password"] input[name=csrf]').evaluate((e) => e.remove());
  await field(page, "Current password").fill(NEW_PASSWORD);
  await field(page, "New password").fill("yet another passphrase");
  const [response] = await Promise.all([
    page.waitForNavigation(),
    page.getByRole("button", { name: "Change password" }).click(),
  ]);
  assert.equal(response.status(), 403);
  await page.getByText("This form has expired").waitFor();
  await shot(page, "08-csrf-refused");
});

flow("XSS payloads are shown as text", async () => {
  const payload = "<script>alert(1)</script>";
  const { context: evil, page: p3 } = await newPage({ userAgent: `<img src=x onerror=alert(2)>${payload}` });
  await p3.goto(`${base}/signup`);
  await field(p3, "Email").fill(`${payload}@example.com`);
  await field(p3, "Username").fill(payload);
  await field(p3, "Password").fill(PASSWORD);
  await p3.getByRole("button", { name: "Sign up" }).click();
  await p3.waitForLoadState();
  assert.equal(await field(p3, "Username").inputValue(), payload);
  await logIn(p3, email, NEW_PASSWORD);
  await p3.waitForURL(`${base}/account`);
  // The user agent is listed (truncated) with the sessions, as text.
  await p3.getByText("<img src=x onerror=alert(2)>", { exact: false }).first().waitFor();
  await shot(p3, "09-xss-as-text");
  await evil.close();
});

flow("forgot and reset password through the mailed link", async () => {
  if (process.env.SKIP_MAIL === "1") return "skipped (SKIP_MAIL=1)";
  const { context: c4, page: p4 } = await newPage();
  const before = Date.now() - 1000;
  await p4.goto(`${base}/forgot-password`);
  await field(p4, "Email").fill(email);
  await p4.getByRole("button", { name: "Send reset link" }).click();
  await p4.getByText("a reset link is on its way").waitFor();
  await shot(p4, "10-forgot-password-sent");
  const link = await mailedLink(email, "/reset-password", before);
  await p4.goto(`${base}${link}`);
  await field(p4, "New password").fill("the newest passphrase");
  await shot(p4, "11-reset-password");
  await p4.getByRole("button", { name: "Set password" }).click();
  await p4.getByText("Your new password is set").waitFor();
  await logIn(p4, email, "the newest passphrase");
  await p4.waitForURL(`${base}/account`);
  await c4.close();
});

flow("narrow screen", async () => {
  const { context: c5, page: p5 } = await newPage({ viewport: { width: 375, height: 740 } });
  await p5.goto(`${base}/login`);
  await shot(p5, "12-login-mobile");
  await c5.close();
});

// ------------------------------------------------------------ admin pages
// An administrator (made by run.sh with `doorward user create --admin`).
const adminEmail = process.env.ADMIN_EMAIL;
const adminPassword = process.env.ADMIN_PASSWORD;
const victim = `vic.${run}@example.com`;
let admin = null;

flow("admin searches and pages through users and reads the audit log", async () => {
  if (!adminEmail) return "skipped (no ADMIN_EMAIL)";
  admin = await newPage();
  const p = admin.page;
  // More users than one page of 2 holds.
  for (const n of ["bea", "cal", "dee"]) {
    const r = await fetch(`${base}/v1/signup`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: `${n}.${run}@example.com`, password: PASSWORD }),
    });
    assert.ok(r.ok, `signup ${n}: ${r.status}`);
  }
  await logIn(p, adminEmail, adminPassword);
  await p.waitForURL(`${base}/account`);
  await p.getByRole("link", { name: "Admin", exact: true }).click();
  await p.waitForURL(`${base}/admin/users`);
  await p.getByRole("table").getByText(`bea.${run}@example.com`).waitFor();
  await shot(p, "13-admin-users");

  await field(p, "Search users").fill(`cal.${run}`);
  await p.getByRole("button", { name: "Search" }).click();
  await p.waitForURL(/\/admin\/users\?q=/);
  assert.equal(await p.locator("tbody tr").count(), 1);
  await p.getByRole("link", { name: `cal.${run}@example.com` }).waitFor();

  await p.goto(`${base}/admin/users?limit=2`);
  const firstPage = await p.locator("tbody tr").allInnerTexts();
  assert.equal(firstPage.length, 2);
  await p.getByRole("link", { name: "Next page" }).click();
  await p.waitForURL(/cursor=/);
  const secondPage = await p.locator("tbody tr").allInnerTexts();
  assert.ok(secondPage.length >= 1 && secondPage.length <= 2);
  assert.ok(!secondPage.some((r) => firstPage.includes(r)), "pages overlap");
  await p.getByRole("link", { name: "First page" }).waitFor();

  // The user who signed up first (flows above): their page and their events.
  await p.goto(`${base}/admin/users?q=${encodeURIComponent(email)}`);
  await p.getByRole("link", { name: email }).click();
  await p.getByRole("heading", { level: 1, name: email }).waitFor();
  await p.getByRole("heading", { name: "Recent activity" }).waitFor();
  await shot(p, "14-admin-user");

  await p.getByRole("navigation", { name: "Administration" }).getByRole("link", { name: "Audit log" }).click();
  await p.waitForURL(`${base}/admin/audit`);
  // The XSS flow's user agent is in the log: shown as text (no dialog opens).
  await p.getByText("<img src=x onerror=alert(2)>", { exact: false }).first().waitFor();
  await shot(p, "15-admin-audit");
  await p.getByLabel("Event type").selectOption("login_failed");
  await field(p, "User").fill(email);
  await p.getByRole("button", { name: "Apply filters" }).click();
  await p.waitForURL(/type=login_failed/);
  const rows = await p.locator("tbody tr").allInnerTexts();
  assert.ok(rows.length >= 1, "the wrong-password login is listed");
  assert.ok(rows.every((r) => r.includes("Login failed")), rows.join("\n"));
  await field(p, "User").fill("nobody@nowhere.example");
  await p.getByRole("button", { name: "Apply filters" }).click();
  await p.getByText("No account has this email address or username.").waitFor();

  await p.setViewportSize({ width: 375, height: 740 });
  await p.goto(`${base}/admin/users`);
  await shot(p, "16-admin-users-mobile");
  const overflow = await p.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1);
  assert.ok(!overflow, "the page itself does not scroll sideways (the table does)");
  await p.setViewportSize({ width: 1100, height: 800 });
});

flow("admin disables a user who is then logged out", async () => {
  if (!adminEmail || !admin) return "skipped (no admin)";
  const p = admin.page;
  const { context: cv, page: pv } = await newPage();
  await pv.goto(`${base}/signup`);
  await field(pv, "Email").fill(victim);
  await field(pv, "Password").fill(PASSWORD);
  await pv.getByRole("button", { name: "Sign up" }).click();
  await pv.waitForURL(`${base}/account`);
  // Not an administrator: no Admin link, and the pages say so.
  assert.equal(await pv.getByRole("link", { name: "Admin", exact: true }).count(), 0);
  const denied = await pv.goto(`${base}/admin/users`);
  assert.equal(denied.status(), 403);
  await pv.getByText("Administrators only").waitFor();

  await p.goto(`${base}/admin/users?q=${encodeURIComponent(victim)}`);
  await p.getByRole("link", { name: victim }).click();
  await p.getByRole("button", { name: "Disable account" }).click();
  await p.getByText("The account is disabled and every session of it has ended.").waitFor();
  await p.getByRole("button", { name: "Enable account" }).waitFor();
  await shot(p, "17-admin-user-disabled");

  // The user's next page view: the login page; logging in is refused.
  await pv.goto(`${base}/account`);
  await pv.waitForURL(/\/login/);
  await logIn(pv, victim, PASSWORD);
  const alert = pv.getByRole("alert");
  await alert.waitFor();
  assert.match(await alert.innerText(), /This account is disabled/);
  await shot(pv, "18-login-disabled");

  // Deleting asks first.
  await p.getByRole("link", { name: "Delete account…" }).click();
  await p.getByRole("heading", { name: `Delete ${victim}?` }).waitFor();
  await shot(p, "19-admin-delete-confirm");
  await p.getByRole("button", { name: "Delete permanently" }).click();
  await p.getByText("The account is deleted").waitFor();
  await cv.close();
  await admin.context.close();
});

let failed = 0;
for (const { name, fn } of flows) {
  const seen = problems.length;
  try {
    const note = await fn();
    const extra = problems.slice(seen);
    if (extra.length) throw new Error(extra.join("; "));
    console.log(`ok   ${name}${note ? ` — ${note}` : ""}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}\n     ${String(e && e.stack || e).split("\n").slice(0, 6).join("\n     ")}`);
    await shot(page, `fail-${name.replace(/\W+/g, "-")}`).catch(() => {});
  }
}
await main.close();
await browser.close();
console.log(`${flows.length - failed}/${flows.length} flows passed; screenshots in ${artifacts}`);
process.exit(failed ? 1 : 0);
