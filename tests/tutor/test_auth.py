"""Users file, password hashing, roles and REST tokens."""

import pytest

from tutor import auth
from tutor.config import load_config
from tutor.errors import ConfigError, InputError


def cfg_for(tmp_path, **server):
    cfg = load_config(env={"SMARTLEARN_PATHS_DATA_DIR": str(tmp_path)})
    return cfg.replace(server=cfg.server.replace(**server))


def test_passwords_are_stored_hashed_and_verified(tmp_path):
    path = tmp_path / "users.yaml"
    auth.set_user(path, "ann", "correct horse", "learner")
    auth.set_user(path, "root", "admin pass 1", "admin")
    text = path.read_text()
    assert "correct horse" not in text and "$argon2id$" in text
    users = auth.UserDirectory.load(cfg_for(tmp_path))
    assert users.enabled and users.names() == ["ann", "root"]
    assert users.authenticate("ann", "correct horse")
    assert not users.authenticate("ann", "wrong")
    assert not users.authenticate("nobody", "correct horse")
    assert not users.authenticate("ann", None)  # Gradio may pass None; never raises
    assert users.is_admin("root") and not users.is_admin("ann") and not users.is_admin(None)


def test_tokens_are_for_admins_and_stored_as_hashes(tmp_path):
    path = tmp_path / "users.yaml"
    auth.set_user(path, "root", "admin pass 1", "admin")
    auth.set_user(path, "ann", "learner pass", "learner")
    token = auth.issue_token(path, "root")
    assert token not in path.read_text()
    with pytest.raises(InputError):
        auth.issue_token(path, "ann")
    users = auth.UserDirectory.load(cfg_for(tmp_path))
    assert users.user_for_token(token).name == "root"
    assert users.user_for_token(token + "x") is None and users.user_for_token("") is None
    # Changing the password keeps the tokens.
    auth.set_user(path, "root", "new admin pass", "admin")
    assert auth.UserDirectory.load(cfg_for(tmp_path)).user_for_token(token).name == "root"


@pytest.mark.parametrize("name,password,role", [("", "longenough", "learner"), ("a b", "longenough", "learner"),
                                                ("ann", "short", "learner"), ("ann", "longenough", "owner")])
def test_bad_user_input_is_refused(tmp_path, name, password, role):
    with pytest.raises(InputError):
        auth.set_user(tmp_path / "users.yaml", name, password, role)


@pytest.mark.parametrize("text,needle", [
    ("users: [1, 2]", "users:"),
    ("users:\n  ann: {role: boss, password_hash: '$argon2id$x'}", "role"),
    ("users:\n  ann: {role: learner, password_hash: plain}", "Argon2"),
    ("users: {ann: {role: learner, password_hash: '$argon2id$x', tokens: [abc]}}", "tokens"),
    ("users: {ann: [", "cannot be read"),
])
def test_malformed_users_file_names_the_problem(tmp_path, text, needle):
    (tmp_path / "users.yaml").write_text(text)
    with pytest.raises(ConfigError, match=needle):
        auth.UserDirectory.load(cfg_for(tmp_path))


def test_legacy_admin_env_pair_becomes_a_hashed_admin(tmp_path):
    users = auth.UserDirectory.load(cfg_for(tmp_path, admin_user="teach", admin_password="pw-from-env"))
    assert users.is_admin("teach") and users.authenticate("teach", "pw-from-env")
    assert users.get("teach").password_hash.startswith("$argon2")


def test_no_users_means_login_off(tmp_path):
    users = auth.UserDirectory.load(cfg_for(tmp_path))
    assert not users.enabled and not users.is_admin("anyone")


def test_cli_user_commands(tmp_path, monkeypatch, capsys):
    from tutor.__main__ import main

    monkeypatch.setenv("SMARTLEARN_PATHS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SMARTLEARN_NEW_PASSWORD", "s3cret-pass")
    assert main(["user", "add", "root", "--role", "admin"]) == 0
    assert main(["user", "token", "root"]) == 0
    token = capsys.readouterr().out.strip().splitlines()[-1]
    assert auth.UserDirectory.load(cfg_for(tmp_path)).user_for_token(token).name == "root"
    monkeypatch.setenv("SMARTLEARN_NEW_PASSWORD", "short")
    assert main(["user", "add", "bob"]) == 1
    assert "at least 8" in capsys.readouterr().err


def test_a_running_app_sees_user_changes_and_survives_a_broken_edit(tmp_path):
    path = tmp_path / "users.yaml"
    auth.set_user(path, "root", "admin pass 1", "admin")
    users = auth.UserDirectory.load(cfg_for(tmp_path))
    assert users.get("bob") is None
    auth.set_user(path, "bob", "bob password", "learner")
    assert users.authenticate("bob", "bob password")
    auth.remove_user(path, "bob")
    assert not users.authenticate("bob", "bob password")
    path.write_text("users: [broken")
    assert users.is_admin("root"), "a file that cannot be read keeps the previous users"
