// Sign in and sign up.

import { api, ApiError } from "./api.mjs";
import { byId, fill, show } from "./dom.mjs";

export class AuthView {
  /** `onSignedIn({token, user})` after either form succeeded. */
  constructor({ onSignedIn }) {
    this.onSignedIn = onSignedIn;
    this.el = {
      error: byId("auth-error"),
      signIn: byId("sign-in-form"),
      signUp: byId("sign-up-form"),
    };
    byId("show-sign-up").addEventListener("click", () => this.mode("sign-up"));
    byId("show-sign-in").addEventListener("click", () => this.mode("sign-in"));
    this.el.signIn.addEventListener("submit", (e) => {
      e.preventDefault();
      this.signIn();
    });
    this.el.signUp.addEventListener("submit", (e) => {
      e.preventDefault();
      this.signUp();
    });
  }

  /** Show the forms, with an optional sentence (why the user is here again). */
  reset(message = "") {
    fill(this.el.error, message);
    this.el.signIn.reset();
    this.el.signUp.reset();
    this.mode("sign-in", { keepMessage: true });
  }

  mode(which, { keepMessage = false } = {}) {
    if (!keepMessage) fill(this.el.error);
    show(this.el.signIn, which === "sign-in");
    show(this.el.signUp, which === "sign-up");
    const form = which === "sign-in" ? this.el.signIn : this.el.signUp;
    form.elements[0].focus();
  }

  async signIn() {
    const form = this.el.signIn;
    await this.submit(form, async () =>
      api("/api/users/sign_in", {
        method: "POST",
        body: { email: form.elements.email.value.trim(), password: form.elements.password.value },
      }),
    );
  }

  async signUp() {
    const form = this.el.signUp;
    await this.submit(form, async () =>
      api("/api/users/create", {
        method: "POST",
        body: {
          user_params: {
            username: form.elements.username.value.trim(),
            email: form.elements.email.value.trim(),
            password: form.elements.password.value,
          },
        },
      }),
    );
  }

  async submit(form, call) {
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    fill(this.el.error);
    try {
      const data = await call();
      this.onSignedIn({ token: data.token, user: data.user });
    } catch (error) {
      const wrong = error instanceof ApiError && error.status === 401;
      fill(this.el.error, wrong ? "Wrong email or password." : error.message);
    } finally {
      button.disabled = false;
    }
  }
}
