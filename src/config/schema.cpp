// schema.cpp -- the key table.  Add a key here, then run `make docs`.
#include "config/schema.hpp"

#include <array>

namespace ses::config {
namespace {

constexpr int64_t KB = 1000;
constexpr int64_t GB = 1000 * 1000 * 1000;

const SectionDoc kSections[] = {
    {"daemon", "Process settings: logging, pid file."},
    {"milter", "The milter socket and what the milter answers when it cannot decide."},
    {"dkim", "How messages are signed. Keys belong to the `[[domain]]` entries."},
    {"domain[]",
     "One `[[domain]]` table per sending identity. Mail whose From: domain (else the envelope "
     "sender's domain) is this domain or a subdomain of it is signed with every key listed."},
    {"domain[].dkim[]", "One entry per DKIM key of the domain; each key adds one DKIM-Signature."},
    {"warmup",
     "Automatic warm-up (docs/warmup.md): a daily limit per sending identity that grows along the "
     "plan while reputation holds; mail over the limit is held in the MTA and released 24 hours "
     "later, oldest first."},
    {"policy", "The Lua policy that decides the warm-up (docs/lua.md)."},
    {"store", "The LMDB environment shared by sesmilter and sesctl."},
    {"mta", "The MTA whose hold queue keeps over-quota mail, and how to reach its tools."},
    {"records",
     "Message records and delivery status (docs/status.md): every accepted outbound message gets an id "
     "(header X-SES-Message-ID) and a record; the MTA's log (`[mta] log_file`) gives each recipient's "
     "delivery status; daily statistics per identity and mailbox group."},
    {"suppression",
     "The suppression list (docs/suppression.md): hard bounces, complaints and unsubscribes add the "
     "recipient; outbound mail to a listed address loses that recipient at end of message (DeliverStatus 2, "
     "SendStatus 1007, a `dropped` event), and a message left without recipients is discarded."},
    {"simulator",
     "The mailbox simulator (docs/simulator.md): mail to SCENARIO@domain produces the scenario's records, "
     "events and (simulated) statistics and never leaves the machine."},
    {"return_path",
     "The authenticated return path (docs/status.md, \"Return path\"): for identities with a "
     "`return_path_domain` the envelope sender becomes a tag naming the message and recipient, so that "
     "bounces and complaints coming back are counted and consumed."},
    {"tracking",
     "Open and click tracking and one-click unsubscribe (docs/tracking.md): per identity (`track_opens`, "
     "`track_clicks`, `unsubscribe` in `[[domain]]`), with authenticated tokens under these keys and links "
     "pointing at `public_url`."},
    {"outbound",
     "Which mail is outbound (submission): it must come from a configured, allowed identity, and it is "
     "signed and counted. Everything else is inbound. A client is outbound when any rule matches."},
    {"verify",
     "Checks on inbound mail: SPF, DKIM and DMARC, reported in one Authentication-Results header "
     "(docs/authentication.md)."},
    {"templates",
     "Template expansion (docs/templates.md): a message with `X-SES-Template: NAME` and "
     "`X-SES-Template-Data: {json}` is rendered from the template store before it is signed."},
    {"dns", "The one resolver (libunbound, with its cache) used for SPF, DKIM, DMARC and identity checks."},
    {"http",
     "The HTTP endpoint (docs/http.md): the JSON API, `/metrics` and the public tracking and unsubscribe "
     "routes. Off while `listen` is empty. Operator routes need `Authorization: Bearer KEY` "
     "(`sesctl apikey create`)."},
    {"send",
     "The sending API (`POST /v1/send`, docs/api.md) and the tasks (docs/tasks.md): messages sesmilter builds "
     "are submitted over SMTP to the local MTA, so the milter applies identity checks, templates, "
     "suppression, tracking, warm-up and signing as for any other mail. Needs `[http]` and `[records]`."},
    {"tasks",
     "Recipient groups and batch tasks (docs/tasks.md): a template sent to every member of a group now, at a "
     "time or on a recurrence, within the identity's warm-up quota of the day."},
    {"webhooks",
     "Delivery of events to the `[[webhook]]` endpoints (docs/events.md): from a durable outbox, at least "
     "once, in order per recipient, signed, retried with exponential backoff."},
    {"pool[]",
     "One `[[pool]]` table per pool of sending addresses (docs/pools.md). sesmilter picks the address a message "
     "leaves from and adds `X-SES-Pool: POOL ADDRESS` after signing; Postfix routes on it with "
     "`milter_header_checks` to one `smtp` transport per address (`sesctl mta config` prints the lines). Each "
     "address is a warm-up identity `ip:ADDRESS`."},
    {"webhook[]",
     "One `[[webhook]]` table per endpoint that receives events. Each request carries `X-SES-Event-ID` and "
     "`X-SES-Signature: t=UNIX,v1=HEX` (HMAC-SHA256 over t + \".\" + body)."},
};

const KeyDef kKeys[] = {
    // [daemon]
    {"daemon.pidfile", Type::string, R"("/run/sesmilter/sesmilter.pid")",
     "Pid file written when sesmilter runs as a daemon (not with -f). Empty: none."},
    {"daemon.log_level", Type::choice, R"("info")", "Least severe level logged.", "debug|info|notice|warning|error"},
    {"daemon.log_target", Type::choice, R"("auto")",
     "Where log lines go. `auto`: syslog for a daemon when a syslog socket (/dev/log) exists, else "
     "stderr (in the foreground with -f, under systemd, or without syslog). On systemd's journal "
     "($JOURNAL_STREAM) each line carries its level.",
     "auto|stderr|syslog"},
    {"daemon.syslog_facility", Type::choice, R"("mail")", "Syslog facility.",
     "mail|daemon|user|local0|local1|local2|local3|local4|local5|local6|local7"},

    // [milter]
    {"milter.socket", Type::string, R"("unix:/run/sesmilter/milter.sock")",
     "Where the MTA connects: `unix:/PATH` (absolute), `inet:PORT@ADDR` or `inet6:PORT@ADDR` (PORT 1..65535; "
     "without `@ADDR` every address). TCP sockets get TCP_NODELAY; prefer a unix socket on the same host."},
    {"milter.socket_mode", Type::string, R"("0660")", "Permissions of a unix socket (octal)."},
    {"milter.socket_owner", Type::string, R"("")",
     "`user[:group]` owning a unix socket, e.g. `postfix:postfix`. Empty: the daemon's user."},
    {"milter.user", Type::string, R"("")",
     "Unprivileged user sesmilter becomes after start-up (started as root, it reads the keys, opens the "
     "store, binds the socket, then drops root for good before any mail). Empty: no change; a daemon "
     "started as root then handles mail as root and says so in a warning. Keys must be readable by this "
     "user for SIGHUP reloads. The package sets `sesmilter`."},
    {"milter.group", Type::string, R"("")",
     "Group for `milter.user`. Empty: the user's primary group. The user's supplementary groups "
     "(/etc/group, e.g. `postfix`) are kept."},
    {"milter.on_error", Type::choice, R"("tempfail")",
     "Answer when sesmilter fails internally (a key cannot sign, the store fails, ...). `tempfail` "
     "keeps the mail with the client, which retries (`451 4.3.0`). `accept` degrades per stage: a failing "
     "store skips warm-up (logged at warning) and the message is still signed; only a failure to sign "
     "or to apply the changes passes a message on unchanged and unsigned, logged at error.",
     "tempfail|accept"},
    {"milter.max_message_size",
     Type::size,
     R"("10MB")",
     "Largest message accepted, in bytes of the message as the MTA stores it: every header line "
     "`Name: value` with its CRLF, the blank line, the body with CRLF line ends. A message of exactly "
     "this size is accepted; one byte more and the client gets `552 5.3.4` as soon as it is passed "
     "(checked while the message streams in).",
     {},
     KB,
     GB},
    {"milter.timeout",
     Type::duration,
     R"("300s")",
     "How long libmilter waits on an idle MTA connection.",
     {},
     1,
     86400},
    {"milter.backlog", Type::integer, "128", "Listen backlog of the milter socket.", {}, 1, 65535},
    {"milter.drain_time",
     Type::duration,
     R"("30s")",
     "On SIGTERM, how long open messages may take to reach their end of message and get their "
     "answer. New connections are refused and new transactions get `421 4.3.2` meanwhile; an idle "
     "daemon stops at once.",
     {},
     0,
     3600},
    {"milter.spool_directory", Type::string, R"("/var/tmp")",
     "Where message bodies larger than `milter.spool_threshold` are kept while the message is "
     "processed: an unlinked temporary file per message (nothing is left behind, even after a crash). "
     "Must be writable by the daemon's user; checked at start-up."},
    {"milter.spool_threshold",
     Type::size,
     R"("64KiB")",
     "Body bytes kept in memory per message; a larger body moves to a spool file in "
     "`milter.spool_directory`. Bounds the memory of many concurrent large messages.",
     {},
     4096,
     GB},

    // [dkim]
    {"dkim.canonicalization", Type::choice, R"("relaxed/relaxed")", "Header/body canonicalization.",
     "relaxed/relaxed|relaxed/simple|simple/relaxed|simple/simple"},
    {"dkim.sign_headers", Type::string_list,
     R"(["From", "Sender", "Reply-To", "Subject", "Date", "Message-ID", "To", "Cc", "MIME-Version", )"
     R"("Content-Type", "Content-Transfer-Encoding", "Content-ID", "Content-Description", )"
     R"("Resent-Date", "Resent-From", "Resent-Sender", "Resent-To", "Resent-Cc", "Resent-Message-ID", )"
     R"("In-Reply-To", "References", "List-Id", "List-Help", "List-Unsubscribe", )"
     R"("List-Unsubscribe-Post", "List-Subscribe", "List-Post", "List-Owner", "List-Archive", "Feedback-ID", )"
     R"("X-SES-Message-ID", "CFBL-Address", "CFBL-Feedback-ID"])",
     "Header fields signed when present."},
    {"dkim.oversign_headers", Type::string_list, R"(["From"])",
     "Header fields signed once more than they occur, so that none can be added after signing."},
    {"dkim.min_rsa_bits", Type::integer, "1024", "Smallest RSA key accepted at start-up.", {}, 1024, 8192},
    {"dkim.long_lines", Type::choice, R"("reencode")",
     "A body line longer than 998 octets is folded by the MTA's SMTP client (Postfix "
     "`smtp_line_length_limit`), which breaks the DKIM body hash. `reencode`: a text part (7bit/8bit) "
     "with such a line is re-encoded as quoted-printable before signing; a line that cannot be "
     "re-encoded (attachment, multipart/signed, preamble/epilogue) refuses the message with "
     "`554 5.6.0`. `reject`: every such message is refused with `554 5.6.0`.",
     "reencode|reject"},
    {"dkim.subdomains", Type::boolean, "true",
     "Sign mail from a subdomain of a `[[domain]]` with that domain's keys (d= the parent, which "
     "DMARC relaxed alignment accepts)."},
    {"dkim.signer", Type::choice, R"("native")",
     "Which code signs. `native`: sesmilter canonicalises, hashes and builds the header itself and signs "
     "with OpenSSL (about 280 000 fewer instructions per message). `opendkim`: libopendkim, the reference "
     "the native signer is tested against byte for byte; both give the same signatures.",
     "native|opendkim"},

    // [[domain]]
    {"domain", Type::table_list, "", "Sending identities."},
    {"domain[].name",
     Type::string,
     "",
     "The domain, e.g. `example.com`: labels of letters, digits and `-` (an internationalized name in its "
     "`xn--` form). Each domain may appear once.",
     {},
     INT64_MIN,
     INT64_MAX,
     true,
     R"("example.com")"},
    {"domain[].dkim", Type::table_list, "", "DKIM keys of the domain."},
    {"domain[].smtp_users", Type::string_list, "[]",
     "SASL user names ({auth_authen}) allowed to send as this domain. Empty: any authenticated user."},
    {"domain[].outbound_ips", Type::string_list, "[]",
     "Addresses this MTA sends from for the domain; `sesctl identity verify` checks that the domain's SPF "
     "record authorizes each."},
    {"domain[].require_verified", Type::boolean, "false",
     "Refuse the domain's mail (550 5.7.1) until `sesctl identity verify` (or the daemon's periodic check) "
     "has found its DKIM, SPF and DMARC records in place."},
    {"domain[].alignment", Type::choice, R"("relaxed")",
     "DMARC alignment required between the From: domain and the DKIM signing domain.", "relaxed|strict"},
    {"domain[].return_path_domain", Type::string, R"("")",
     "Custom MAIL FROM domain, e.g. `bounce.example.com`: the envelope sender of the domain's mail becomes "
     "`TAG@` this domain (needs `[return_path] keys`), and DSNs and complaints sent to it are counted and "
     "consumed. Its MX must point at this MTA. Empty: the envelope sender is left as submitted."},
    {"domain[].one_recipient_per_message", Type::boolean, "false",
     "One recipient per SMTP transaction for mail whose envelope sender is of this domain: each RCPT after "
     "the first is answered `452 4.5.3` and the client sends it in a later transaction, so the return-path "
     "tag, the record and the reports of each message name its one recipient."},
    {"domain[].track_opens", Type::boolean, "false",
     "Open tracking: a 1x1 pixel `PUBLIC_URL/o/TOKEN` before `</body>` of the HTML parts (docs/tracking.md). "
     "Needs `[tracking] keys` and `public_url`."},
    {"domain[].track_clicks", Type::boolean, "false",
     "Click tracking: the http(s) links of the HTML parts become `PUBLIC_URL/c/TOKEN`, redirecting to the "
     "original URL (kept `[tracking] link_days`)."},
    {"domain[].unsubscribe", Type::boolean, "false",
     "One-click unsubscribe (RFC 8058): `List-Unsubscribe: <PUBLIC_URL/u/TOKEN>` and `List-Unsubscribe-Post` "
     "on one-recipient messages, always signed and oversigned; an unsubscribe adds the recipient to the "
     "suppression list."},
    {"domain[].pool", Type::string, R"("")",
     "The `[[pool]]` the domain's mail leaves from (docs/pools.md). Empty: `[mta] default_pool`."},
    {"domain[].dkim[].selector",
     Type::string,
     "",
     "Selector: the key is published at SELECTOR._domainkey.DOMAIN. Letters, digits, `-` and dots "
     "(DNS labels).",
     {},
     INT64_MIN,
     INT64_MAX,
     true,
     R"("s1")"},
    {"domain[].dkim[].key",
     Type::string,
     "",
     "Private key file (PEM; RSA >= `dkim.min_rsa_bits` or Ed25519), mode 0600 or stricter. "
     "`sesctl dkim keygen` writes one.",
     {},
     INT64_MIN,
     INT64_MAX,
     true,
     R"("/etc/sesmilter/keys/example.com.s1.pem")"},

    // [warmup]
    {"warmup.enabled", Type::boolean, "false",
     "Apply warm-up quotas to outbound mail. Off by default, so that adding sesmilter for signing "
     "never starts holding mail by surprise."},
    {"warmup.time_zone", Type::string, R"("UTC")",
     "Time zone of the calendar days that quotas count in: `UTC`, a fixed offset such as `+02:00`, "
     "or a zone name such as `Europe/Paris`. A change takes effect at restart."},
    {"warmup.hold_duration",
     Type::duration,
     R"("24h")",
     "How long over-quota mail is held unless the policy says otherwise.",
     {},
     60,
     30 * 86400},
    {"warmup.release_scheduler", Type::boolean, "true",
     "Run the release scheduler inside sesmilter. Turn off to release only with `sesctl queue release-due` (cron)."},
    {"warmup.release_interval", Type::duration, R"("60s")", "Time between two release passes.", {}, 1, 86400},
    {"warmup.release_batch", Type::integer, "200", "Held messages released per store transaction.", {}, 1, 100000},
    {"warmup.release_retry",
     Type::duration,
     R"("10m")",
     "Wait before a release that the MTA refused is tried again (it is not charged twice).",
     {},
     1,
     86400},
    {"warmup.outbound_ips", Type::string_list, "[]",
     "Sending IP addresses. With exactly one, that address is a warm-up identity too, next to the sender domain."},

    // [policy]
    {"policy.script", Type::string, R"("")",
     "Lua policy script (the shipped one is lua/warmup.lua). Empty: the built-in rules, which are the "
     "same as the shipped script. Reloaded on SIGHUP; a script that does not load is refused and the "
     "old one kept."},
    {"policy.instruction_limit",
     Type::integer,
     "1000000",
     "Lua VM instructions one hook call may run; past it the call fails and the built-in rule decides.",
     {},
     1000,
     1000000000},
    {"policy.memory_limit", Type::size, R"("16MiB")", "Memory one Lua state may allocate.", {}, 1 << 20, 1ll << 32},
    {"policy.time_limit_ms",
     Type::integer,
     "200",
     "Wall-clock milliseconds one hook call may run (also bounds C functions such as pattern matching and "
     "string.rep); past it the call fails and the built-in rule decides.",
     {},
     1,
     60000},

    // [store]
    {"store.path", Type::string, R"("/var/lib/sesmilter")",
     "Directory of the LMDB environment (created if missing). sesctl must use the same."},
    {"store.sync", Type::choice, R"("periodic")",
     "`periodic`: flush to disk every `sync_interval` (a crash of sesmilter loses nothing; a power loss "
     "may lose the last interval). `full`: fsync at every commit (slower by the disk's flush time per message).",
     "periodic|full"},
    {"store.sync_interval", Type::duration, R"("1s")", "Flush interval with `sync = \"periodic\"`.", {}, 1, 3600},
    {"store.map_size",
     Type::size,
     R"("64MiB")",
     "Initial LMDB map size; it doubles when full.",
     {},
     1 << 20,
     1ll << 40},
    {"store.backend", Type::choice, R"("lmdb")",
     "Where the state a fleet shares lives: `lmdb` (this machine only) or `redis` (the warm-up quota is "
     "checked and charged in Redis, so several MTAs share one quota exactly; docs/fleet.md). Records, held "
     "mail and everything else stay in LMDB (`path`) either way.",
     "lmdb|redis"},
    {"store.redis_url", Type::string, R"("redis://127.0.0.1:6379/0")",
     "The Redis server with `backend = \"redis\"`: `redis://[:password@]host:port/db` or `unix:/path/to/socket` "
     "(`unix:/path?db=N&password=P`). No TLS (Debian 12's hiredis 0.14): use a private network or a tunnel."},
    {"store.redis_pool", Type::integer, "8", "Connections to Redis kept open (one per concurrent call).", {}, 1, 256},
    {"store.redis_timeout_ms",
     Type::integer,
     "200",
     "Connect and command timeout in milliseconds; past it the call fails and mail is answered per `on_error`.",
     {},
     1,
     60000},
    {"store.redis_prefix", Type::string, R"("ses:")",
     "Prefix of every Redis key, so several fleets (or tests) can share one server."},

    // [mta]
    {"mta.kind", Type::choice, R"("postfix")", "The MTA: its hold queue keeps over-quota mail.", "postfix|sendmail"},
    {"mta.config_directory", Type::string, R"("")",
     "Given to postsuper/postqueue as `-c` (Postfix) or the directory of sendmail.cf (Sendmail), so a "
     "private instance works. Empty: the MTA's own, `/etc/postfix` or `/etc/mail`."},
    {"mta.command_prefix", Type::string_list, "[]",
     "Words put before the MTA's privileged tools, e.g. `[\"sudo\", \"-n\"]` when sesmilter does not run as root."},
    {"mta.command_timeout", Type::duration, R"("30s")", "Longest run of one MTA tool.", {}, 1, 3600},
    {"mta.requeue_margin",
     Type::duration,
     R"("1d")",
     "Held mail older than the MTA's `maximal_queue_lifetime` minus this is released with `postsuper -r` (a "
     "new queue id and a fresh arrival time) instead of `postsuper -H`, which keeps the arrival time, so that "
     "the message is not expired at its first temporary failure (docs/warmup.md). Postfix only.",
     {},
     0,
     365 * 86400},
    {"mta.log_file",
     Type::string,
     R"("")",
     "The MTA's log file read for delivery status (docs/status.md): Postfix's own log (`maillog_file = "
     "/var/log/postfix.log` in main.cf, Postfix 3.4 or later, through postlogd) or the file the system "
     "logger writes. Rename rotation (`postfix logrotate`, logrotate without copytruncate) loses nothing. "
     "Empty: no delivery status is followed.",
     {},
     INT64_MIN,
     INT64_MAX,
     false,
     R"("/var/log/postfix.log")"},
    {"mta.log_poll_interval", Type::duration, R"("1s")", "How often the MTA's log is read for new lines.", {}, 1, 3600},
    {"mta.default_pool", Type::string, R"("")",
     "The `[[pool]]` of identities without a `pool` of their own. Empty: the first `[[pool]]`."},
    {"mta.pool_map", Type::string, R"("")",
     "The Postfix regexp table that routes `X-SES-Pool` to the pools' transports, as `sesctl mta config` "
     "prints it. Empty: `sesmilter_pools.regexp` in `config_directory` (else /etc/postfix)."},
    {"mta.pool_next_hop", Type::string, R"("")",
     "The next hop of pool mail, e.g. `[relay.example.net]:25`, written into each `FILTER` action. Empty: the "
     "recipient domain's MX. Postfix's `relayhost` and `transport_maps` do not apply to pool mail: a FILTER "
     "with an empty next hop resolves the recipient domain."},

    // [[pool]]
    {"pool", Type::table_list, "", "Pools of sending addresses (docs/pools.md)."},
    {"pool[].name",
     Type::string,
     "",
     "The pool's name: letters, digits, `_` and `-`. Each name may appear once.",
     {},
     INT64_MIN,
     INT64_MAX,
     true,
     R"("dedicated")"},
    {"pool[].addresses",
     Type::string_list,
     "[]",
     "The pool's sending addresses (IPv4 or IPv6), each in one pool only. The first with room in its warm-up "
     "quota today sends the message.",
     {},
     INT64_MIN,
     INT64_MAX,
     true,
     R"(["192.0.2.10"])"},
    {"pool[].helo_name", Type::string, R"("")",
     "The EHLO name of the pool's transports (`smtp_helo_name`), e.g. the addresses' PTR name. Empty: the MTA's "
     "`myhostname`."},

    // [records]
    {"records.enabled", Type::boolean, "true",
     "Give every accepted outbound message an id and a record, and keep delivery status and statistics."},
    {"records.keep_days",
     Type::integer,
     "30",
     "Days a message record is kept; older ones are purged in the background. Statistics are kept.",
     {},
     1,
     3650},
    {"records.mailbox_groups", Type::string_list,
     R"(["gmail.com", "outlook.com", "hotmail.com", "yahoo.com", "icloud.com", "qq.com", "163.com"])",
     "Receiving mailbox domains counted separately in the statistics (a subdomain counts with its domain); "
     "every other recipient domain counts as `other`."},
    {"records.purge_interval",
     Type::duration,
     R"("10m")",
     "How often expired records are purged (in small batches, so the milter never waits long).",
     {},
     1,
     86400},

    // [suppression]
    {"suppression.enabled", Type::boolean, "true",
     "Keep the suppression list and remove listed recipients from outbound mail. Off: nothing is added "
     "or enforced (the list is kept; `sesctl suppression` still works)."},
    {"suppression.scope", Type::choice, R"("global")",
     "Where hard bounces, complaints and unsubscribes put the address: `global` (no identity mails it "
     "again) or `identity` (only the identity that sent the message stops). Lookups always honour both.",
     "global|identity"},
    {"suppression.hard_bounce_expiry",
     Type::duration,
     R"("0s")",
     "How long a hard bounce keeps an address on the list. 0: for ever.",
     {},
     0,
     INT64_MAX},
    {"suppression.complaint_expiry",
     Type::duration,
     R"("0s")",
     "How long a complaint keeps an address on the list. 0: for ever.",
     {},
     0,
     INT64_MAX},

    // [simulator]
    {"simulator.enabled", Type::boolean, "true",
     "Answer the mailbox simulator's addresses (docs/simulator.md). Off: mail to its domain is ordinary mail."},
    {"simulator.domain", Type::string, R"("simulator.sesmilter.invalid")",
     "The simulator's domain: success@, bounce@, softbounce@, ooto@, complaint@, unsubscribe@ and "
     "suppressed@ it (with an optional +label) are scenarios; no mail to it leaves the machine."},

    // [return_path]
    {"return_path.keys", Type::string_list, "[]",
     "Tag keys as `\"ID:SECRET\"` (ID 1..15, SECRET at least 16 bytes); the first signs new tags, the "
     "others still validate bounces of mail sent before a rotation. Ids are explicit so that adding or "
     "retiring a key never renumbers the others. Required when a domain has a `return_path_domain`."},

    // [tracking]
    {"tracking.keys", Type::string_list, "[]",
     "Token keys as `\"ID:SECRET\"` (ID 1..15, SECRET at least 16 bytes), as `[return_path] keys`: the first "
     "signs new tokens, the others keep old links working after a rotation. Required when a domain tracks "
     "or has `unsubscribe`."},
    {"tracking.link_days",
     Type::integer,
     "365",
     "How long the original URLs of tracked links are kept (days), independent of `[records] keep_days`.",
     {},
     1,
     36500},

    // [outbound]
    {"outbound.authenticated", Type::boolean, "true", "SASL-authenticated clients are outbound."},
    {"outbound.networks", Type::string_list, R"(["127.0.0.0/8", "::1/128"])",
     "Client addresses (CIDR) that are outbound."},
    {"outbound.daemons", Type::string_list, R"(["ORIGINATING"])",
     "Postfix `milter_macro_daemon_name` values (`{daemon_name}`) that are outbound, e.g. the submission service's."},

    // [verify]
    {"verify.enabled", Type::boolean, "false", "Check SPF, DKIM and DMARC on everything that is not outbound."},
    {"verify.authserv_id", Type::string, R"("")",
     "The authserv-id of the Authentication-Results header (RFC 8601). Empty: this host's name. Incoming "
     "Authentication-Results carrying it are removed as forged."},
    {"verify.dmarc_reject", Type::boolean, "false",
     "Refuse (550 5.7.1) mail that fails DMARC when the domain's policy is p=reject."},
    {"verify.dmarc_quarantine", Type::boolean, "false",
     "Put mail that fails DMARC under p=quarantine (or p=reject without `dmarc_reject`) in the MTA's hold queue."},
    {"verify.tempfail_on_dns_error", Type::boolean, "true",
     "Answer 451 4.4.3 when a check could not be made for a DNS failure, so the sender retries."},
    {"verify.public_suffix_list", Type::string, R"("/usr/share/publicsuffix/public_suffix_list.dat")",
     "Public Suffix List for organizational domains (package publicsuffix)."},

    // [templates]
    {"templates.enabled", Type::boolean, "true",
     "Render messages that carry X-SES-Template. Off: such messages pass unchanged, X-SES headers included."},

    // [http]
    {"http.listen",
     Type::string_list,
     "[]",
     "Addresses (`HOST:PORT`, IPv6 as `[::1]:PORT`) the HTTP endpoint listens on; empty: no HTTP endpoint. "
     "Only the first address is used.",
     {},
     INT64_MIN,
     INT64_MAX,
     false,
     R"(["127.0.0.1:8025"])"},
    {"http.admin_listen", Type::string_list, "[]",
     "Addresses for the operator routes (API, `/metrics`); empty: they are served on `listen` too. When set, "
     "`listen` serves only the public routes."},
    {"http.public_url", Type::string, R"("")",
     "The base URL written into mail (`PUBLIC_URL/o/`, `/c/`, `/u/`: tracking and unsubscribe links), e.g. "
     "`https://mail.example.com`. Must be https when a domain has `unsubscribe`, except for loopback hosts "
     "(tests)."},
    {"http.threads", Type::integer, "2", "Threads serving requests.", {}, 1, 64},
    {"http.max_connections", Type::integer, "64", "Connections served at once; more are refused.", {}, 1, 10000},
    {"http.max_body",
     Type::size,
     R"("64KiB")",
     "Largest request body without a valid API key (tracking, unsubscribe); a larger one is answered 413.",
     {},
     0,
     16 << 20},
    {"http.max_api_body",
     Type::size,
     R"("16MiB")",
     "Largest request body with a valid API key: `POST /v1/send` carries a message of up to `[send] "
     "max_message_size` in base64, and group imports a CSV. The key is checked before the body is read.",
     {},
     0,
     256 << 20},
    {"http.timeout", Type::duration, R"("10s")", "An idle connection is closed after this long.", {}, 1, 3600},
    {"http.tls_cert", Type::string, R"("")",
     "PEM certificate (chain) for HTTPS served by sesmilter itself; with `tls_key`. Empty: plain HTTP (put a "
     "reverse proxy in front, docs/http.md)."},
    {"http.tls_key", Type::string, R"("")", "PEM private key for `tls_cert`."},
    {"http.dashboard_assets", Type::string, R"("/usr/share/javascript/chart.js")",
     "Directory holding `chart.min.js` (Debian: libjs-chart.js), read once at start-up for the dashboard's chart "
     "at `/` (docs/dashboard.md). Empty or missing: the dashboard shows its tables without the chart."},

    // [send]
    {"send.smtp", Type::string, R"("127.0.0.1:25")",
     "The local MTA's SMTP listener (`HOST:PORT`, IPv6 as `[::1]:PORT`) that the sending API and tasks submit to."},
    {"send.smtp_user", Type::string, R"("")", "SMTP AUTH user for submission; empty: no AUTH."},
    {"send.smtp_password", Type::string, R"("")",
     "SMTP AUTH password (prefer `smtp_password_file`, which keeps it out of the configuration)."},
    {"send.smtp_password_file", Type::string, R"("")",
     "File whose first line is the SMTP AUTH password; read at start-up. Wins over `smtp_password`."},
    {"send.starttls", Type::boolean, "false",
     "Require STARTTLS before submitting (needed for AUTH to an MTA that is not on loopback)."},
    {"send.timeout",
     Type::duration,
     R"("60s")",
     "How long one submission (connection, every SMTP command and the data) may take.",
     {},
     1,
     3600},
    {"send.max_message_size",
     Type::size,
     R"("10MB")",
     "Largest message the API builds, after encoding (base64 attachments included); larger requests get 413.",
     {},
     1000,
     100 * 1000 * 1000},
    {"send.refused_attachments", Type::string_list,
     R"([".ade", ".adp", ".apk", ".appx", ".bat", ".cab", ".chm", ".cmd", ".com", ".cpl", ".dll", ".dmg", ".exe", ".hta", ".ins", ".iso", ".isp", ".jar", ".js", ".jse", ".lib", ".lnk", ".mde", ".msc", ".msi", ".msp", ".mst", ".nsh", ".pif", ".ps1", ".scr", ".sct", ".shb", ".sys", ".vb", ".vbe", ".vbs", ".vxd", ".wsc", ".wsf", ".wsh"])",
     "Attachment file name extensions the API refuses (400), compared without regard to case."},

    // [tasks]
    {"tasks.max_rows",
     Type::integer,
     "100000",
     "Most recipients a group may hold; an import beyond it is refused.",
     {},
     1,
     10000000},
    {"tasks.max_row_bytes",
     Type::integer,
     "4096",
     "Longest CSV row (or JSON entry) of a group import, in bytes; a longer row is reported as bad.",
     {},
     64,
     1 << 20},
    {"tasks.batch",
     Type::integer,
     "50",
     "Recipients a task assigns message ids to at once (and may submit twice after a crash, docs/tasks.md).",
     {},
     1,
     1000},
    {"tasks.poll_interval", Type::duration, R"("1s")", "How often the task runner looks for due work.", {}, 1, 3600},
    {"tasks.retry",
     Type::duration,
     R"("30s")",
     "Wait after the MTA deferred a recipient (4xx) or did not answer; doubles per attempt up to an hour.",
     {},
     1,
     3600},

    // [webhooks]
    {"webhooks.max_age",
     Type::duration,
     R"("24h")",
     "How long an event is retried; an event older than this whose attempt fails moves to the failed list "
     "(`sesctl events failed`, `sesctl events retry`).",
     {},
     60,
     30 * 86400},
    {"webhooks.retry_base",
     Type::duration,
     R"("30s")",
     "Delay before the first retry; each further retry waits twice as long, up to `retry_max`.",
     {},
     1,
     3600},
    {"webhooks.retry_max", Type::duration, R"("1h")", "Longest delay between two attempts.", {}, 1, 86400},
    {"webhooks.verify_tls", Type::boolean, "true",
     "Verify the certificate and host name of https:// endpoints. Turn off only for a test endpoint."},
    {"webhooks.poll_interval",
     Type::duration,
     R"("1s")",
     "How often the sender looks for new or due events in the outbox.",
     {},
     1,
     60},

    // [[webhook]]
    {"webhook", Type::table_list, "", "Endpoints that receive events."},
    {"webhook[].url",
     Type::string,
     "",
     "The endpoint, `http://` or `https://`.",
     {},
     INT64_MIN,
     INT64_MAX,
     true,
     R"("https://app.example.com/ses-events")"},
    {"webhook[].name", Type::string, R"("")",
     "A stable name for the endpoint (its outbox entries are kept under it). Empty: the URL. Each name "
     "(or URL) may appear once."},
    {"webhook[].secrets",
     Type::string_list,
     "[]",
     "Signing secrets, at least 16 bytes each, one or two: every request carries one `v1=` signature per "
     "secret, so during a rotation the receiver may verify with either.",
     {},
     INT64_MIN,
     INT64_MAX,
     true,
     R"(["change-me-to-a-long-random-secret"])"},
    {"webhook[].events", Type::string_list, "[]",
     "Event types sent to this endpoint (docs/events.md), e.g. `[\"delivered\", \"bounce\"]`. Empty: all."},
    {"webhook[].format", Type::choice, R"("ses")",
     "`ses`: sesmilter's JSON, an array of one or more events per request; `tencent`: one object per "
     "request with a cloud SES's callback fields, and only its event types.",
     "ses|tencent"},
    {"webhook[].timeout",
     Type::duration,
     R"("10s")",
     "Deadline of each request (connect and answer); a timeout is a failed attempt.",
     {},
     1,
     300},
    {"webhook[].batch_max",
     Type::integer,
     "100",
     "Most events in one `ses` request (when several are pending for the endpoint).",
     {},
     1,
     1000},

    // [dns]
    {"dns.forwarders", Type::string_list, "[]",
     "Servers to forward questions to, `ADDR` or `ADDR@PORT` (e.g. `127.0.0.1@5353`). Empty: the nameservers "
     "of /etc/resolv.conf."},
    {"dns.timeout",
     Type::duration,
     R"("5s")",
     "Deadline per question; a timeout is a temporary error (451 4.4.3).",
     {},
     1,
     120},
    {"dns.dnssec", Type::boolean, "false",
     "Validate answers with DNSSEC (trust anchor /usr/share/dns/root.key, package dns-root-data)."},
};

}  // namespace

std::string_view type_name(Type t) {
    switch (t) {
        case Type::string:
            return "string";
        case Type::integer:
            return "integer";
        case Type::boolean:
            return "boolean";
        case Type::size:
            return "size";
        case Type::duration:
            return "duration";
        case Type::choice:
            return "choice";
        case Type::string_list:
            return "list of strings";
        case Type::table_list:
            return "array of tables";
    }
    return "?";
}

std::span<const KeyDef> keys() { return kKeys; }
std::span<const SectionDoc> sections() { return kSections; }

const KeyDef* find_key(std::string_view path) {
    for (auto& k : kKeys)
        if (k.path == path) return &k;
    return nullptr;
}

}  // namespace ses::config
