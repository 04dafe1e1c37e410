"""Users, roles and credentials: who may log in, who is an admin, which REST tokens are valid.

Owns the users file (YAML, written by `python -m tutor user ...`):

    users:
      alice: {role: learner, password_hash: "$argon2id$v=19$..."}
      root:  {role: admin, password_hash: "$argon2id$...", tokens: ["sha256:9f86d0..."]}

Passwords are stored only as Argon2id hashes (argon2-cffi, the PHC winner; its defaults are
OWASP's recommended parameters). REST tokens are 32 random bytes, so a plain SHA-256 of them
is enough (no dictionary to attack) and fast enough to check on every request.
The legacy pair server.admin_user/admin_password (env) still works: it becomes an admin whose
password is hashed in memory at start-up, so the plain text is not kept around.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import tempfile
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path

from tutor.config import AppConfig
from tutor.errors import ConfigError, InputError

logger = logging.getLogger(__name__)

ROLES = ("learner", "admin")
MIN_PASSWORD_CHARS = 8
_TOKEN_PREFIX = "sha256:"


@dataclass(frozen=True)
class User:
    name: str
    role: str  # one of ROLES
    password_hash: str
    token_hashes: tuple[str, ...] = field(default=(), repr=False)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def _hasher():
    from argon2 import PasswordHasher  # imported on use: only login and `user add` need it

    return PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def _token_hash(token: str) -> str:
    return _TOKEN_PREFIX + hashlib.sha256(token.encode()).hexdigest()


def users_file(cfg: AppConfig) -> Path:
    return Path(cfg.server.users_file).expanduser() if cfg.server.users_file else cfg.paths.data_dir / "users.yaml"


class UserDirectory:
    """The users the app knows. Empty = login off (learners are anonymous, nobody is admin)."""

    def __init__(self, users: dict[str, User] | None = None, *, path: Path | None = None,
                 extra: dict[str, User] | None = None) -> None:
        self._users = dict(users or {})
        # A hash to verify against for unknown names, so a wrong name costs as long as a wrong password.
        self._dummy_hash: str | None = None
        self._lock = threading.Lock()
        # With a path, the file is re-read when it changes, so `python -m tutor user add/remove`
        # applies to a running app. `extra` = users not in the file (the legacy env admin).
        self._path = path
        self._extra = dict(extra or {})
        self._stamp = _stamp(path) if path is not None else None

    @classmethod
    def load(cls, cfg: AppConfig) -> UserDirectory:
        path = users_file(cfg)
        users = read_users(path)
        s = cfg.server
        extra = {}
        if s.admin_user:
            if s.admin_user in users and not users[s.admin_user].is_admin:
                raise ConfigError(f"server.admin_user {s.admin_user!r} is a learner in the users file.")
            extra[s.admin_user] = User(s.admin_user, "admin", hash_password(s.admin_password))
        return cls({**extra, **users}, path=path, extra=extra)

    def _refresh(self) -> None:
        if self._path is None:
            return
        stamp = _stamp(self._path)
        if stamp == self._stamp:
            return
        with self._lock:
            if stamp == self._stamp:
                return
            try:
                users = read_users(self._path)
            except ConfigError:
                # A half-edited file must not lock everyone out: keep the users we had.
                logger.exception("users file changed but cannot be read; keeping the previous users")
            else:
                self._users = {**self._extra, **users}
                logger.info("users file %s re-read: %d user(s)", self._path, len(self._users))
            self._stamp = stamp

    @property
    def enabled(self) -> bool:
        # Login on/off is decided once, when the server starts (Gradio's login is set up then).
        return bool(self._users)

    def names(self) -> list[str]:
        return sorted(self._users)

    def get(self, name: str | None) -> User | None:
        self._refresh()
        return self._users.get(name or "")

    def is_admin(self, name: str | None) -> bool:
        user = self.get(name)
        return user is not None and user.is_admin

    def authenticate(self, name: str, password: str) -> bool:
        """True when the name and password match. Never raises for bad input (Gradio's login calls it)."""
        from argon2.exceptions import Argon2Error, InvalidHashError

        user = self.get(name)
        if user is None:
            with self._lock:
                if self._dummy_hash is None:
                    self._dummy_hash = hash_password(secrets.token_hex(16))
            target = self._dummy_hash
        else:
            target = user.password_hash
        try:
            ok = _hasher().verify(target, password or "")
        except (Argon2Error, InvalidHashError):
            ok = False
        return ok and user is not None

    def user_for_token(self, token: str | None) -> User | None:
        if not token:
            return None
        digest = _token_hash(token)
        self._refresh()
        for user in self._users.values():
            if any(hmac.compare_digest(digest, h) for h in user.token_hashes):
                return user
        return None


# ---------------------------------------------------------------- the users file


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def read_users(path: Path) -> dict[str, User]:
    """The users in ``path`` ({} when it does not exist). Raises ConfigError naming the problem."""
    if not path.exists():
        return {}
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"Users file {path} cannot be read: {e}") from e
    raw = data.get("users") if isinstance(data, dict) else None
    if not isinstance(raw, dict):
        raise ConfigError(f"Users file {path} must contain a 'users:' mapping.")
    users: dict[str, User] = {}
    for name, entry in raw.items():
        if not isinstance(entry, dict):
            raise ConfigError(f"Users file {path}: user {name!r} must be a mapping with role and password_hash.")
        role = entry.get("role", "learner")
        pw = entry.get("password_hash")
        tokens = entry.get("tokens") or []
        if role not in ROLES:
            raise ConfigError(f"Users file {path}: user {name!r} has role {role!r}; use one of {', '.join(ROLES)}.")
        if not isinstance(pw, str) or not pw.startswith("$argon2"):
            raise ConfigError(f"Users file {path}: user {name!r} needs an Argon2 password_hash "
                              "(set it with `python -m tutor user add`).")
        if not isinstance(tokens, list) or not all(isinstance(t, str) and t.startswith(_TOKEN_PREFIX) for t in tokens):
            raise ConfigError(f"Users file {path}: tokens of {name!r} must be a list of 'sha256:...' strings.")
        users[str(name)] = User(str(name), role, pw, tuple(tokens))
    return users


def _write_users(path: Path, users: dict[str, User]) -> None:
    import yaml

    data = {"users": {
        u.name: {"role": u.role, "password_hash": u.password_hash, **({"tokens": list(u.token_hashes)} if u.token_hashes else {})}
        for u in sorted(users.values(), key=lambda u: u.name)
    }}
    path.parent.mkdir(parents=True, exist_ok=True)
    # Atomic replace: a crash mid-write must not leave a half file that locks everyone out.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write("# SmartLearn users: edit with `python -m tutor user ...`. Hashes only, never passwords.\n")
            yaml.safe_dump(data, f, sort_keys=False)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def set_user(path: Path, name: str, password: str, role: str) -> User:
    """Add a user or change their password/role. Raises InputError for a bad name/password/role."""
    name = (name or "").strip()
    if not name or len(name) > 64 or not all(c.isalnum() or c in "-_." for c in name):
        raise InputError("A user name is 1-64 letters, digits, '-', '_' or '.'.")
    if role not in ROLES:
        raise InputError(f"Role must be one of {', '.join(ROLES)}.")
    if len(password or "") < MIN_PASSWORD_CHARS:
        raise InputError(f"A password needs at least {MIN_PASSWORD_CHARS} characters.")
    users = read_users(path)
    old = users.get(name)
    user = User(name, role, hash_password(password), old.token_hashes if old else ())
    users[name] = user
    _write_users(path, users)
    return user


def remove_user(path: Path, name: str) -> bool:
    users = read_users(path)
    if users.pop(name, None) is None:
        return False
    _write_users(path, users)
    return True


def issue_token(path: Path, name: str) -> str:
    """A new REST token for admin ``name``; only its hash is stored, so it is shown once."""
    users = read_users(path)
    user = users.get(name)
    if user is None:
        raise InputError(f"No user {name!r} in {path}.")
    if not user.is_admin:
        raise InputError(f"{name!r} is a learner; REST tokens are for admins.")
    token = secrets.token_urlsafe(32)
    users[name] = replace(user, token_hashes=user.token_hashes + (_token_hash(token),))
    _write_users(path, users)
    return token
