"""Property tests of the configuration loader: any input gives a Config or a ConfigError naming the key.

Generated JSON documents (arbitrary ones, and ones shaped like ades-config.json with known
and unknown sections and keys holding values of every JSON type), raw bytes as the file,
and environment variables (known `GAIT_*` names, their `_FILE` forms, misspelt names) with
arbitrary text. `load_config` must return a Config or raise ConfigError, and the error
must name what is wrong: the env var, the `section.key`, or the section of the document
(the file's path for a file that is not an object of sections at all).

`FUZZ_EXAMPLES` raises the number of generated cases (`make fuzz`).
"""

from __future__ import annotations

import json
import os

from ades.config import ENV_VARS, SECTIONS, Config, ConfigError, load_config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "0")) or 300
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

KNOWN_KEYS = sorted({v.key for v in ENV_VARS.values() if v.key and v.key != "-"})
_json_scalar = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                         st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20),
                         st.sampled_from(["", "0", "8080", "true", "INFO", "100/minute", "redis://x",
                                          "postgresql://u@h/db", "https", "a,b", "./data", "-1"]))
_json = st.recursive(_json_scalar, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)),
    max_leaves=12)
_section = st.one_of(st.sampled_from(SECTIONS), st.text(max_size=12))
_key = st.one_of(st.sampled_from([k.split(".", 1)[-1] for k in KNOWN_KEYS]), st.text(max_size=12))
_shaped = st.dictionaries(_section, st.one_of(st.dictionaries(_key, _json, max_size=4), _json),
                          max_size=4)


def _names_something_in(message: str, document: object) -> bool:
    if not isinstance(document, dict):
        return True  # checked by the caller: the message names the file
    for section, keys in document.items():
        if str(section) in message or repr(section) in message:
            return True
        if isinstance(keys, dict) and any(f"{section}.{key}" in message for key in keys):
            return True
    return False


def _load_file(tmp_path, content: bytes):
    path = tmp_path / "ades-config.json"
    path.write_bytes(content)
    return path, load_config({"GAIT_DATA_DIR": str(tmp_path / "data"),
                              "GAIT_CONFIG_PATH": str(path)})


@SETTINGS
@given(document=st.one_of(_shaped, _json), ascii_only=st.booleans())
def test_any_json_file_gives_a_config_or_an_error_naming_the_key(tmp_path, document, ascii_only):
    text = json.dumps(document, ensure_ascii=ascii_only)
    try:
        _, config = _load_file(tmp_path, text.encode("utf-8", "surrogatepass"))
    except ConfigError as exc:
        message = str(exc)
        assert str(tmp_path / "ades-config.json") in message
        assert _names_something_in(message, document), message
    else:
        assert isinstance(config, Config)


@SETTINGS
@given(content=st.binary(max_size=200))
def test_any_bytes_as_the_file_give_a_config_or_an_error_naming_the_file(tmp_path, content):
    try:
        _, config = _load_file(tmp_path, content)
    except ConfigError as exc:
        assert str(tmp_path / "ades-config.json") in str(exc)
    else:
        assert isinstance(config, Config)


@SETTINGS
@given(overrides=_shaped)
def test_any_overrides_give_a_config_or_an_error_naming_the_key(tmp_path, overrides):
    try:
        config = load_config({"GAIT_DATA_DIR": str(tmp_path / "data")}, overrides=overrides)
    except ConfigError as exc:
        assert _names_something_in(str(exc), overrides), str(exc)
    else:
        assert isinstance(config, Config)


_env_name = st.one_of(st.sampled_from(sorted(ENV_VARS)),
                      st.sampled_from(sorted(ENV_VARS)).map(lambda n: n + "_FILE"),
                      st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ_", min_size=1, max_size=10).map(
                          lambda n: "GAIT_" + n))
# An environment cannot hold NUL; anything else can reach the loader.
_env_value = st.one_of(st.text(max_size=30).map(lambda t: t.replace("\x00", "")),
                       st.integers(-10, 70000).map(str),
                       st.sampled_from(["true", "no", "0", "1.5", "1/second", "redis://h:1/0",
                                        "postgresql://h/db", "http,https", "/nonexistent/file"]))


@SETTINGS
@given(env=st.dictionaries(_env_name, _env_value, max_size=5))
def test_any_environment_gives_a_config_or_an_error_naming_the_variable(tmp_path, env):
    environ = {"GAIT_DATA_DIR": str(tmp_path / "data"), **env}
    try:
        config = load_config(environ)
    except ConfigError as exc:
        message = str(exc)
        named = [name for name in environ if name in message]
        assert named, message
    else:
        assert isinstance(config, Config)
