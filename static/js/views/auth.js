// Sign-in and sign-up forms.

import { ApiError, post, setSession } from "../api.js";
import { h } from "../dom.js";
import * as fmt from "../format.js";

function field(id, label, attrs = {}) {
  return h(
    "div.field",
    h("label", { for: id }, label),
    h("input", { id, name: id.replace(/^(signin|signup)-/, ""), ...attrs }),
  );
}

// A message for people, shown as it is (no field list).
class Plain extends Error {}

function showError(box, err) {
  box.replaceChildren();
  if (err instanceof Plain) {
    box.append(h("p", err.message));
  } else if (err instanceof ApiError) {
    box.append(h("p", err.message));
    const fields = err.fieldErrors();
    if (fields.length) box.append(h("ul", fields.map((f) => h("li", f))));
  } else {
    box.append(h("p", "Cannot reach the server. Try again."));
  }
  box.hidden = false;
  box.focus();
}

function form(id, title, fields, submitLabel, onSubmit, footer) {
  const error = h("div.form-error", { role: "alert", tabindex: "-1", hidden: true, dataset: { testid: "form-error" } });
  const button = h("button.primary", { type: "submit" }, submitLabel);
  const node = h(
    "form.auth-form",
    { id, novalidate: false },
    h("h1", title),
    error,
    fields,
    button,
    footer,
  );
  node.addEventListener("submit", async (e) => {
    e.preventDefault();
    button.disabled = true;
    error.hidden = true;
    try {
      await onSubmit(new FormData(node));
    } catch (err) {
      showError(error, err);
    } finally {
      button.disabled = false;
    }
  });
  return node;
}

export function signInView(root, { onSignedIn }) {
  const f = form(
    "signin-form",
    "Sign in to Pacer",
    [
      field("signin-username", "Username", { autocomplete: "username", required: true, autocapitalize: "none" }),
      field("signin-password", "Password", { type: "password", autocomplete: "current-password", required: true }),
    ],
    "Sign in",
    async (data) => {
      let body;
      try {
        body = await post("/sessions", {
          username: String(data.get("username") || "").trim(),
          password: String(data.get("password") || ""),
        });
      } catch (e) {
        // Which of the two was wrong is not said (nor known to the server).
        if (e instanceof ApiError && [400, 401, 422].includes(e.status)) throw new Plain("Wrong user name or password.");
        throw e;
      }
      setSession(body.access_token, body.athlete);
      onSignedIn(body.athlete);
    },
    h("p.form-footer", "New here? ", h("a", { href: "#/signup" }, "Create an account")),
  );
  root.replaceChildren(h("section.auth", f));
  f.querySelector("input").focus();
}

export function signUpView(root, { onSignedIn }) {
  const f = form(
    "signup-form",
    "Create your Pacer account",
    [
      field("signup-username", "Username", { autocomplete: "username", required: true, autocapitalize: "none" }),
      field("signup-password", "Password (8+ characters)", {
        type: "password",
        autocomplete: "new-password",
        required: true,
        minlength: "8",
      }),
      h(
        "div.field-row",
        field("signup-firstname", "First name", { autocomplete: "given-name", required: true }),
        field("signup-lastname", "Last name", { autocomplete: "family-name", required: true }),
      ),
    ],
    "Sign up",
    async (data) => {
      const body = await post("/athletes", {
        username: String(data.get("username") || "").trim(),
        password: String(data.get("password") || ""),
        firstname: String(data.get("firstname") || "").trim(),
        lastname: String(data.get("lastname") || "").trim(),
      });
      setSession(body.access_token, body.athlete);
      onSignedIn(body.athlete);
    },
    h("p.form-footer", "Have an account? ", h("a", { href: "#/signin" }, "Sign in")),
  );
  root.replaceChildren(h("section.auth", f));
  f.querySelector("input").focus();
}

// A sign-in link (/?access_token=...) names an account; nothing changes until
// the visitor says so: a link from someone else must not silently sign them
// into that person's account (login CSRF), nor out of their own.
export function linkSignInView(root, { athlete, current, onAccept, onCancel }) {
  if (!athlete) {
    root.replaceChildren(
      h(
        "section.auth",
        h(
          "div.auth-form",
          { dataset: { testid: "link-signin" } },
          h("h1", "This sign-in link does not work"),
          h("p", { dataset: { testid: "link-signin-invalid" } }, "It has expired or was revoked. Nothing was changed."),
          h("button.primary", { type: "button", dataset: { testid: "link-signin-cancel" }, onclick: onCancel }, "Continue"),
        ),
      ),
    );
    return;
  }
  const named = (a) => `${fmt.athleteName(a)} (@${a.username})`;
  const accept = h(
    "button.primary",
    { type: "button", dataset: { testid: "link-signin-accept" }, onclick: onAccept },
    current ? `Switch to @${athlete.username}` : `Sign in as @${athlete.username}`,
  );
  const cancel = h(
    "button.secondary",
    { type: "button", dataset: { testid: "link-signin-cancel" }, onclick: onCancel },
    current ? `Stay signed in as @${current.username}` : "Cancel",
  );
  root.replaceChildren(
    h(
      "section.auth",
      h(
        "div.auth-form",
        { role: "alertdialog", "aria-labelledby": "link-signin-title", dataset: { testid: "link-signin" } },
        h("h1", { id: "link-signin-title" }, current ? "Switch accounts?" : "Sign in with this link?"),
        h(
          "p",
          { dataset: { testid: "link-signin-account" } },
          "This link signs you in as ",
          h("strong", named(athlete)),
          ".",
        ),
        current
          ? h("p", { dataset: { testid: "link-signin-current" } }, "You are signed in as ", h("strong", named(current)), ".")
          : h("p", "Only continue if this is your account."),
        accept,
        cancel,
      ),
    ),
  );
  accept.focus();
}
