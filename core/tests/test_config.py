"""`load_config`: DESIGN.md's YAML structures into the model, and every mistake is reported with its path."""

from __future__ import annotations

import textwrap
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from attrs import define, field, validators

from mailconduit import (
    AfterReplication,
    AuthSettings,
    ConfigError,
    FetchStrategy,
    LoadFailure,
    MoveTo,
    OAuthProviderSettings,
    PasswordAuth,
    PluginSet,
    RateLimit,
    SendSettings,
    TlsMode,
    hookimpl,
    load_plugins,
)
from mailconduit._builtins.memory import MemoryReceiveSettings, MemorySendSettings
from mailconduit._builtins.reply import ReplySettings
from mailconduit._builtins.webhook import WebhookSettings
from mailconduit._config import Config, PipelineSettings, PipelineStep, load_config
from mailconduit._model import ReceiveSettings, RunnerSettings
from mailconduit.testing import canary

# ------------------------------------------------------------------------------ a test plugin


@define(frozen=True, kw_only=True)
class AuditSection:
    """An account section ``audit:`` owned by the test plugin."""

    level: str = field(default="basic", validator=validators.in_(["basic", "full"]))
    retain: timedelta = timedelta(days=30)


@define(frozen=True, kw_only=True)
class IdpProvider(OAuthProviderSettings):
    """``oauth_providers: {x: {type: testidp, ...}}``."""

    type: str = "testidp"
    issuer: str = field(validator=validators.min_len(1))
    client_secret: Any = None  # kept Any on purpose: structured as given


@define(frozen=True, kw_only=True)
class TokenAuth(AuthSettings):
    """``auth: {method: token, provider: NAME}``."""

    method: str = "token"
    provider: str


@define(frozen=True, kw_only=True)
class FancySendSettings(SendSettings):
    """A send transport's own settings subclass with one extra key."""

    dkim_selector: str | None = None
    pipelining: bool = True


class _Nothing:
    def __call__(self, *args: Any) -> Any:
        raise AssertionError("not called in config tests")


class SamplePlugin:
    """Registers one of each thing a config can name."""

    @hookimpl
    def register_config_sections(self, register: Any) -> None:
        register("audit", AuditSection)
        register("testidp", IdpProvider, scope="oauth_provider")

    @hookimpl
    def register_authenticators(self, register: Any) -> None:
        register("token", _Nothing, settings=TokenAuth)

    @hookimpl
    def register_transports(self, register: Any) -> None:
        register("fancy", _Nothing, settings=FancySendSettings)


@pytest.fixture(scope="module")
def core() -> PluginSet:
    """Only the built-ins: no installed plugin changes what these tests expect."""
    return load_plugins(autoload=False)


@pytest.fixture(scope="module")
def extended() -> PluginSet:
    return load_plugins(autoload=False, extra=[("t", SamplePlugin())])


def problems_of(source: Any, plugins: PluginSet, **kwargs: Any) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as caught:
        load_config(source, plugins, **kwargs)
    return caught.value.problems


def yaml(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


# --------------------------------------------------------------------------------- defaults


def test_an_empty_config_has_every_default(core: PluginSet) -> None:
    config = load_config("", core)
    assert config == Config()
    assert config.database == "sqlite:///mailconduit.db"
    assert config.secret_key is None
    assert config.plugins == []
    assert config.oauth_providers == {} and config.accounts == {} and config.pipelines == {}
    assert config.templates is None
    assert config.runner == RunnerSettings(health_port=None, watchdog_intervals=3)


def test_db_url_overrides_database(core: PluginSet) -> None:
    config = load_config("database: sqlite:///other.db\n", core, db_url="sqlite:///cli.db")
    assert config.database == "sqlite:///cli.db"


def test_account_defaults_are_designs(core: PluginSet) -> None:
    config = load_config(
        yaml("""
        accounts:
          a:
            email: a@example.test
            send: {protocol: memory, host: s}
            receive: {protocol: memory, host: s}
        """),
        core,
    )
    account = config.account("a")
    assert account.name == "a"
    assert account.auth is None and account.display_name is None and account.shared_mailbox is None
    send = account.send
    assert isinstance(send, MemorySendSettings)
    assert send.port is None  # transports pick their default port
    assert send.tls is TlsMode.TLS and send.check_server_identity is True
    assert send.timeout == timedelta(seconds=20) and send.ehlo_name is None
    assert send.max_attempts == 1 and send.rate_limit is None and send.max_sessions == 1
    assert (send.backoff.initial, send.backoff.max) == (timedelta(seconds=30), timedelta(hours=1))
    assert send.send_on_behalf is False
    receive = account.receive
    assert isinstance(receive, MemoryReceiveSettings)
    assert receive.folder is None and receive.effective_folder == "INBOX"
    assert receive.messages_per_run == 50 and receive.replicate_everything is False
    assert receive.fetch_strategy is FetchStrategy.OLDEST
    assert receive.after_replication is AfterReplication.NONE
    assert receive.subscribe is False and receive.poll_every == timedelta(minutes=5)
    assert receive.idle_refresh == timedelta(minutes=20) and receive.keepalive == timedelta(minutes=5)
    assert (receive.reconnect_backoff.initial, receive.reconnect_backoff.max) == (
        timedelta(seconds=1),
        timedelta(minutes=5),
    )
    assert receive.sanitize_html is True and receive.render_inline_images is True
    assert receive.max_message_size == 100 * 1024 * 1024


# ---------------------------------------------------------------------- DESIGN.md's example

DESIGN_YAML = yaml("""
database: sqlite:///mailconduit.db          # default; or postgresql+psycopg://...
secret_key: ${env:MAILCONDUIT_KEY}          # Fernet key(s), comma-separated for rotation (newest first)
plugins: []                                 # local plugin modules, besides installed ones

accounts:
  support:
    email: support@contoso.com
    display_name: Contoso Support
    auth: {method: password, username: support, password: "${env:PW}"}  # quoted inside { }
    shared_mailbox: helpdesk@contoso.com
    ca_file: null
    send:
      protocol: memory
      host: smtp.office365.com
      port: 587
      tls: starttls
      check_server_identity: true
      timeout: 20s
      ehlo_name: null
      max_attempts: 1
      backoff: {initial: 30s, max: 1h}
      rate_limit: null
      max_sessions: 1
      send_on_behalf: false
    receive:
      protocol: memory
      host: outlook.office365.com
      port: 993
      tls: tls
      check_server_identity: true
      timeout: 20s
      folder: INBOX
      messages_per_run: 50
      replicate_everything: false
      fetch_strategy: oldest
      after_replication: {move_to: Processed}
      subscribe: false
      poll_every: 5m
      idle_refresh: 20m
      keepalive: 5m
      reconnect_backoff: {initial: 1s, max: 5m}
      sanitize_html: true
      render_inline_images: true
      max_message_size: 100MB

templates: templates/

pipelines:
  support-inbox:
    receive: support
    folder: INBOX
    subscribe: true
    poll_every: 5m
    steps:
      - store
      - webhook: {url: https://helpdesk.contoso.com/hooks/mail}
      - reply: {template: acknowledgement}
    after_replication: none
    on_error: [log]

runner:
  health_port: null
  watchdog_intervals: 3
""")

PLUGIN_SECTIONS = yaml("""
oauth_providers:
  contoso:
    type: entra
    flow: client_credentials
    tenant_id: 00000000-0000-0000-0000-000000000000
    client_id: 11111111-1111-1111-1111-111111111111
    client_secret: ${env:CONTOSO_SECRET}
    authority: https://login.microsoftonline.com
accounts:
  support:
    email: support@contoso.com
    auth: {method: entra_oauth, provider: contoso}
    send: {protocol: smtp, host: smtp.office365.com, port: 587, tls: starttls}
    receive: {protocol: imap, host: outlook.office365.com}
    smime:
      sign: {pkcs12: certs/support.p12, passphrase: "${env:P12_PASS}"}
      require_encryption: false
    ldap:
      host: ldap.contoso.com
      bind: anonymous
""")


def test_designs_yaml_structures_into_the_model(tmp_path: Path, extended: PluginSet) -> None:
    path = tmp_path / "mailconduit.yaml"
    path.write_text(DESIGN_YAML)
    key, password = canary("fernet-key"), canary("password")
    config = load_config(path, extended, environ={"MAILCONDUIT_KEY": key, "PW": password})

    assert config.source == path
    assert config.secret_key is not None and config.secret_key.reveal() == key
    assert config.secret_key.source == "env:MAILCONDUIT_KEY"
    assert config.templates == tmp_path / "templates"
    support = config.account("support")
    assert support.email == "support@contoso.com" and support.display_name == "Contoso Support"
    assert support.shared_mailbox == "helpdesk@contoso.com" and support.mailbox == "helpdesk@contoso.com"
    assert support.auth == PasswordAuth(username="support", password=support.auth.password)  # type: ignore[union-attr]
    assert isinstance(support.auth, PasswordAuth) and support.auth.password.reveal() == password
    assert isinstance(support.send, MemorySendSettings)
    assert (support.send.host, support.send.port, support.send.tls) == (
        "smtp.office365.com",
        587,
        TlsMode.STARTTLS,
    )
    receive = support.receive
    assert isinstance(receive, MemoryReceiveSettings)
    assert receive.after_replication == MoveTo("Processed")
    assert receive.max_message_size == 100 * 1024 * 1024
    assert receive.idle_refresh == timedelta(minutes=20)

    pipeline = config.pipelines["support-inbox"]
    assert isinstance(pipeline, PipelineSettings)
    assert pipeline.receive == "support" and pipeline.subscribe is True
    assert pipeline.poll_every == timedelta(minutes=5)
    assert pipeline.after_replication is AfterReplication.NONE
    assert pipeline.steps == [
        PipelineStep(name="store"),
        PipelineStep(name="webhook", settings=WebhookSettings(url="https://helpdesk.contoso.com/hooks/mail")),
        PipelineStep(name="reply", settings=ReplySettings(template="acknowledgement")),
    ]
    assert pipeline.on_error == [PipelineStep(name="log")]
    effective = pipeline.apply_to(receive)
    assert effective.subscribe is True and effective.after_replication is AfterReplication.NONE
    assert config.runner == RunnerSettings()


def test_sections_of_plugins_not_installed_say_what_to_install(core: PluginSet) -> None:
    problems = dict(problems_of(PLUGIN_SECTIONS, core, environ={"CONTOSO_SECRET": "x", "P12_PASS": "y"}))
    assert problems == {
        "oauth_providers.contoso.type": (
            "oauth provider type 'entra' needs mailconduit-entra-oauth: pip install mailconduit-entra-oauth"
        ),
        "accounts.support.auth.method": (
            "auth method 'entra_oauth' needs mailconduit-entra-oauth: pip install mailconduit-entra-oauth"
        ),
        "accounts.support.send.protocol": (
            "send protocol 'smtp' needs mailconduit-smtp: pip install mailconduit-smtp"
        ),
        "accounts.support.receive.protocol": (
            "receive protocol 'imap' needs mailconduit-imap: pip install mailconduit-imap"
        ),
        "accounts.support.smime": "section 'smime' needs mailconduit-smime: pip install mailconduit-smime",
        "accounts.support.ldap": (
            "section 'ldap' needs mailconduit-ldap-certs: pip install mailconduit-ldap-certs"
        ),
    }


def test_a_plugin_that_failed_to_load_is_named_where_the_config_needs_it(core: PluginSet) -> None:
    broken = load_plugins(autoload=False)
    broken.failures.append(
        LoadFailure(
            plugin="smime", distribution="mailconduit-smime", error="ImportError: no asn1", traceback=""
        )
    )
    problems = dict(problems_of("accounts: {a: {email: a@example.test, smime: {}}}", broken))
    assert problems == {
        "accounts.a.smime": (
            "section 'smime' needs plugin 'smime' (mailconduit-smime), which failed to load: "
            "ImportError: no asn1"
        )
    }


def test_unknown_names_list_what_is_available(core: PluginSet) -> None:
    problems = dict(
        problems_of(
            yaml("""
            accounts:
              sales:
                email: sales@example.test
                auth: {method: kerberos}
                send: {protocol: carrier-pigeon, host: x}
                receive: {protocol: memory, host: x}
                audit: {level: full}
            pipelines:
              p: {receive: sales, steps: [store, shred]}
            """),
            core,
        )
    )
    assert problems["accounts.sales.auth.method"] == "unknown auth method 'kerberos'; available: password"
    assert (
        problems["accounts.sales.send.protocol"]
        == "unknown send protocol 'carrier-pigeon'; available: memory"
    )
    assert problems["accounts.sales.audit"].startswith(
        "unknown key; did you mean 'auth'? allowed: auth, ca_file"
    )
    assert problems["pipelines.p.steps[1]"] == (
        "unknown pipeline action 'shred'; available: flag, forward, log, move, reply, run, store, webhook"
    )
    assert len(problems) == 4


# --------------------------------------------------------------------- plugins' own classes


def test_plugin_registered_classes_structure_the_yaml(extended: PluginSet) -> None:
    config = load_config(
        yaml("""
        oauth_providers:
          idp: {type: testidp, issuer: https://idp.example.test}
        accounts:
          a:
            email: a@example.test
            auth: {method: token, provider: idp}
            send: {protocol: fancy, host: mx.example.test, dkim_selector: s1, rate_limit: 30/min}
            audit: {level: full, retain: 7d}
        """),
        extended,
    )
    assert config.oauth_providers == {"idp": IdpProvider(issuer="https://idp.example.test")}
    account = config.account("a")
    assert account.auth == TokenAuth(provider="idp")
    assert account.send == FancySendSettings(
        protocol="fancy",
        host="mx.example.test",
        dkim_selector="s1",
        rate_limit=RateLimit(30, timedelta(minutes=1)),
    )
    assert account.section("audit", AuditSection) == AuditSection(level="full", retain=timedelta(days=7))
    assert account.sections == {"audit": AuditSection(level="full", retain=timedelta(days=7))}


def test_plugin_classes_report_their_own_problems(extended: PluginSet) -> None:
    problems = dict(
        problems_of(
            yaml("""
            oauth_providers:
              idp: {type: testidp, issuer: ""}
            accounts:
              a:
                email: a@example.test
                auth: {method: token, provider: elsewhere}
                send: {protocol: fancy, host: mx.example.test, pipelining: maybe, dkim: s1}
                audit: {level: paranoid}
            pipelines:
              p:
                receive: a
                steps:
                  - webhook: {url: ftp://plain.example.test}
                  - reply: {}
                  - store: {really: true}
            """),
            extended,
        )
    )
    assert problems == {
        "oauth_providers.idp.issuer": "must not be empty",
        "accounts.a.send.pipelining": "expected true or false, got 'maybe'",
        "accounts.a.send.dkim": problems["accounts.a.send.dkim"],
        "accounts.a.audit.level": "must be one of ['basic', 'full'], got 'paranoid'",
        "pipelines.p.steps[0].webhook.url": problems["pipelines.p.steps[0].webhook.url"],
        "pipelines.p.steps[1].reply.template": "is required (missing)",
        "pipelines.p.steps[2].store": "pipeline action 'store' takes no settings; write - store",
    }
    assert problems["accounts.a.send.dkim"].startswith("unknown key; did you mean 'dkim_selector'?")
    assert "expected an http:// or https:// URL" in problems["pipelines.p.steps[0].webhook.url"]
    # the provider check only applies where the structured auth has one and it is unknown
    problems_all = problems_of(
        "oauth_providers: {}\naccounts: {a: {email: a@example.test, auth: {method: token, provider: "
        "nope}}}\n",
        extended,
    )
    assert problems_all == [
        ("accounts.a.auth.provider", "no oauth provider 'nope'; defined under oauth_providers: none")
    ]


# ------------------------------------------------------------------------ every problem at once


TEN_MISTAKES = yaml("""
databse: sqlite:///x.db
accounts:
  support:
    email: not an address
    auth: {method: kerberos}
    send:
      protocol: memory
      host: smtp.example.test
      port: 99999
      timeout: 20 seconds
      tls: ssl
    receive:
      protocol: memory
      host: imap.example.test
      messages_per_run: fifty
      after_replication: archive
      folderr: INBOX
pipelines:
  inbox: {receive: nobody, steps: [store]}
""")


def test_ten_mistakes_give_ten_messages_each_with_its_path(core: PluginSet) -> None:
    problems = problems_of(TEN_MISTAKES, core)
    assert len(problems) == 10, problems
    by_path = dict(problems)
    assert by_path == {
        "databse": "unknown key; did you mean 'database'? allowed: database, secret_key, plugins, "
        "oauth_providers, accounts, templates, pipelines, runner",
        "accounts.support.email": "'not an address' is not a single valid e-mail address",
        "accounts.support.auth.method": "unknown auth method 'kerberos'; available: password",
        "accounts.support.send.port": "must be between 1 and 65535, got 99999",
        "accounts.support.send.timeout": "expected a duration like 20s, 5m, 1h or 1d, got '20 seconds'",
        "accounts.support.send.tls": "expected one of none, starttls, tls, got 'ssl'",
        "accounts.support.receive.messages_per_run": "expected a whole number, got 'fifty'",
        "accounts.support.receive.after_replication": (
            "expected none, delete or {move_to: FOLDER}, got 'archive'"
        ),
        "accounts.support.receive.folderr": by_path["accounts.support.receive.folderr"],
        "pipelines.inbox.receive": "no account 'nobody'; accounts: support",
    }
    assert by_path["accounts.support.receive.folderr"].startswith("unknown key; did you mean 'folder'?")
    # in the order of the file
    assert problems[0][0] == "databse"
    assert problems[-1][0] == "pipelines.inbox.receive"


def test_config_error_names_the_file_and_lists_every_problem(tmp_path: Path, core: PluginSet) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(TEN_MISTAKES)
    with pytest.raises(ConfigError) as caught:
        load_config(path, core)
    assert caught.value.source == str(path)
    text = str(caught.value)
    assert text.startswith(f"{path}: 10 problems in the configuration")
    assert "  accounts.support.send.port: must be between 1 and 65535, got 99999" in text.splitlines()


@pytest.mark.parametrize(
    ("snippet", "path", "message"),
    [
        ("runner: {health_port: 0}", "runner.health_port", "must be between 1 and 65535, got 0"),
        ("runner: {watchdog_intervals: 0}", "runner.watchdog_intervals", "must be >= 1, got 0"),
        ("runner: []", "runner", "expected a mapping, got a list"),
        ("plugins: myapp.mail", "plugins", "expected a list, got 'myapp.mail'"),
        (
            "plugins: ['not a module']",
            "plugins[0]",
            "expected a dotted module name like myapp.mail_plugin, got 'not a module'",
        ),
        (
            "database: mailconduit.db",
            "database",
            "expected a database URL like sqlite:///mailconduit.db or "
            "postgresql+psycopg://HOST/DB (no '://' in the value given)",
        ),
        (
            "accounts: [a, b]",
            "accounts",
            "expected a mapping of account names to account settings, got a list",
        ),
        (
            "accounts: {a.b: {email: a@example.test}}",
            "accounts.a.b",
            "account names use letters, digits, '-' and '_', got 'a.b'",
        ),
        ("accounts: {a: {}}", "accounts.a.email", "is required (missing)"),
        (
            "accounts: {a: {email: Alice <a@example.test>}}",
            "accounts.a.email",
            "expected a bare address like support@example.com, got 'Alice <a@example.test>' (put the "
            "name in display_name:)",
        ),
        (
            "accounts: {a: {email: a@example.test, shared_mailbox: 'x@'}}",
            "accounts.a.shared_mailbox",
            "'x@' is not a single valid e-mail address",
        ),
        (
            "accounts: {a: {email: a@example.test, display_name: 42}}",
            "accounts.a.display_name",
            "expected text, got 42 (quote it in the YAML)",
        ),
        (
            "accounts: {a: {email: a@example.test, send: {host: x}}}",
            "accounts.a.send.protocol",
            "is required (missing); one of: memory",
        ),
        (
            "accounts: {a: {email: a@example.test, send: {protocol: memory, host: x, backoff: "
            "{initial: 1h, max: 1m}}}}",
            "accounts.a.send.backoff",
            "max (0:01:00) must not be shorter than initial (1:00:00)",
        ),
        (
            "accounts: {a: {email: a@example.test, send: {protocol: memory, host: x, rate_limit: lots}}}",
            "accounts.a.send.rate_limit",
            "expected a rate like 30/min, 500/h or 100/5m, got 'lots'",
        ),
        (
            "accounts: {a: {email: a@example.test, send: {protocol: memory, host: x, max_attempts: 0}}}",
            "accounts.a.send.max_attempts",
            "must be >= 1, got 0",
        ),
        (
            "accounts: {a: {email: a@example.test, send: {protocol: memory, host: ''}}}",
            "accounts.a.send.host",
            "must not be empty",
        ),
        (
            "accounts: {a: {email: a@example.test, receive: {protocol: memory, host: x, idle_refresh: 30m}}}",
            "accounts.a.receive",
            "idle_refresh must be under 29m (RFC 2177 servers drop IDLE at 30m), got 0:30:00",
        ),
        (
            "accounts: {a: {email: a@example.test, receive: {protocol: memory, host: x, "
            "max_message_size: 1 TB}}}",
            "accounts.a.receive.max_message_size",
            "expected a size like 512KB, 100MB or 1GB, got '1 TB'",
        ),
        (
            "accounts: {a: {email: a@example.test, receive: {protocol: memory, host: x, "
            "after_replication: {move_to: ''}}}}",
            "accounts.a.receive.after_replication.move_to",
            "expected a folder name, got ''",
        ),
        (
            "accounts: {a: {email: a@example.test, send: {protocol: memory, host: x}}}\n"
            "pipelines: {p: {receive: a, steps: []}}",
            "pipelines.p.steps",
            "must list at least one step, for example [store]",
        ),
        (
            "accounts: {a: {email: a@example.test}}\npipelines: {p: {receive: a, steps: [{store: 1, "
            "log: 2}]}}",
            "pipelines.p.steps[0]",
            "expected a step name (- store) or a one-key mapping (- webhook: {url: ...}), got a mapping",
        ),
        (
            "accounts: {a: {email: a@example.test, send: {protocol: memory, host: x, tls: true}}}",
            "accounts.a.send.tls",
            "expected one of none, starttls, tls, got true",
        ),
    ],
)
def test_each_mistake_names_its_path_and_the_expected_value(
    core: PluginSet, snippet: str, path: str, message: str
) -> None:
    assert problems_of(snippet, core) == [(path, message)]


def test_pop3_must_not_set_a_folder(core: PluginSet) -> None:
    problems = dict(
        problems_of(
            yaml("""
            accounts:
              legacy:
                email: legacy@example.test
                receive: {protocol: pop3, host: pop.example.test, folder: Archive}
            pipelines:
              old: {receive: legacy, folder: Archive, steps: [store]}
            """),
            core,
        )
    )
    assert problems == {
        "accounts.legacy.receive.folder": (
            "must stay unset for pop3: POP3 reads the inbox only; remove folder:"
        ),
        "accounts.legacy.receive.protocol": (
            "receive protocol 'pop3' needs mailconduit-pop3: pip install mailconduit-pop3"
        ),
        "pipelines.old.folder": (
            "must stay unset: account 'legacy' receives by pop3, which reads the inbox only"
        ),
    }


def test_a_send_protocol_used_for_receiving_is_named_as_such() -> None:
    plugins = load_plugins(autoload=False, extra=[("t", SamplePlugin())])
    problems = problems_of(
        "accounts: {a: {email: a@example.test, receive: {protocol: fancy, host: x}}}", plugins
    )
    assert problems == [
        (
            "accounts.a.receive.protocol",
            "'fancy' is a send protocol, not a receive protocol; available: memory",
        )
    ]


def test_a_mapping_source_and_a_non_mapping_document(core: PluginSet) -> None:
    config = load_config({"accounts": {"a": {"email": "a@example.test"}}}, core)
    assert config.account("a").email == "a@example.test"
    assert problems_of("- a\n- b\n", core) == [
        (
            "",
            "the top level must be a mapping of keys (database, secret_key, plugins, oauth_providers, "
            "accounts, "
            "templates, pipelines, runner), got a list",
        )
    ]
    with pytest.raises(LookupError, match="no account 'b' in the configuration; accounts: a"):
        config.account("b")


def test_receive_settings_base_is_not_structured_without_a_protocol(core: PluginSet) -> None:
    assert issubclass(MemoryReceiveSettings, ReceiveSettings)
    problems = problems_of("accounts: {a: {email: a@example.test, receive: imap.example.test}}", core)
    assert problems == [
        ("accounts.a.receive", "expected a mapping with protocol: one of memory, got 'imap.example.test'")
    ]


def test_local_plugin_modules_must_be_loaded_before_the_config(
    core: PluginSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys
    import types

    module = types.ModuleType("mc_test_local_plugin")
    exec("from mailconduit import hookimpl\n", module.__dict__)
    monkeypatch.setitem(sys.modules, "mc_test_local_plugin", module)
    loaded = load_plugins(autoload=False, local=["mc_test_local_plugin"])
    assert load_config("plugins: [mc_test_local_plugin]\n", loaded).plugins == ["mc_test_local_plugin"]
    assert problems_of("plugins: [mc_test_local_plugin]\n", core) == [
        (
            "plugins[0]",
            "plugin module 'mc_test_local_plugin' is not loaded; load the plugins with "
            "load_plugins(local=local_plugin_modules(path)) before load_config",
        )
    ]
    monkeypatch.setenv("MAILCONDUIT_DISABLE_PLUGINS", "mc_test_local_plugin")
    assert load_config("plugins: [mc_test_local_plugin]\n", core).plugins == ["mc_test_local_plugin"]


def test_the_converter_does_not_keep_its_plugin_set_alive() -> None:
    import gc
    import weakref

    from mailconduit._config._converter import _CACHE, converter_for

    plugins = load_plugins(autoload=False)
    assert converter_for(plugins) is converter_for(plugins)  # one converter per plugin set
    load_config("accounts: {a: {email: a@example.test}}\n", plugins)
    ref = weakref.ref(plugins)
    key = id(plugins)
    del plugins
    gc.collect()
    assert ref() is None and key not in _CACHE
