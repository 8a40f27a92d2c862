/* test_config.c - the configuration loader: defaults, every key, file:line errors, helpers. */
#include <criterion/criterion.h>
#include <criterion/redirect.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"

static char test_err[1024];

/* Defaults, then text as file "t.conf". */
static int test_parse(struct config *cfg, const char *text)
{
	config_defaults(cfg);
	test_err[0] = '\0';
	return config_parse(cfg, "t.conf", text, strlen(text), test_err, sizeof(test_err));
}

static void test_expect_error(const char *text, const char *want)
{
	struct config cfg;
	int r = test_parse(&cfg, text);
	cr_expect_eq(r, -1, "accepted: %s", text);
	cr_expect_str_eq(test_err, want, "for input: %s got: %s", text, test_err);
	config_free(&cfg);
}

static void test_expect_ok(const char *text)
{
	struct config cfg;
	int r = test_parse(&cfg, text);
	cr_expect_eq(r, 0, "rejected: %s (%s)", text, test_err);
	config_free(&cfg);
}

static void test_expect_hostport(const struct config_hostport *hp, const char *host, unsigned port)
{
	cr_expect_str_eq(hp->host, host);
	cr_expect_eq(hp->port, port, "port of %s", host);
}

static char *test_write_temp(const char *text)
{
	char *path = strdup("/tmp/test_config_XXXXXX");
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static char *test_read_source(const char *rel)
{
	char path[4096];
	const char *slash = strrchr(__FILE__, '/');
	int dirlen = slash ? (int)(slash - __FILE__) : 1;
	snprintf(path, sizeof(path), "%.*s/../../%s", dirlen, slash ? __FILE__ : ".", rel);
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f, "cannot open %s", path);
	char *text = calloc(1, 256 * 1024);
	size_t n = fread(text, 1, 256 * 1024 - 1, f);
	fclose(f);
	text[n] = '\0';
	return text;
}

Test(config, defaults_match_contract)
{
	struct config cfg;
	config_defaults(&cfg);
	cr_expect_null(cfg.path);
	cr_expect_null(cfg.hostname); /* derived by config_finish */
	cr_assert_eq(cfg.domains.n, 1);
	cr_expect_str_eq(cfg.domains.items[0], "localhost");
	cr_expect_str_eq(cfg.state_dir, "./var");
	cr_expect_null(cfg.users_file);
	cr_expect_null(cfg.aliases_file);
	cr_assert_eq(cfg.smtp_listen.n, 1);
	test_expect_hostport(&cfg.smtp_listen.items[0], "127.0.0.1", 2525);
	cr_assert_eq(cfg.submission_listen.n, 1);
	test_expect_hostport(&cfg.submission_listen.items[0], "127.0.0.1", 2587);
	cr_assert_eq(cfg.submissions_listen.n, 1);
	test_expect_hostport(&cfg.submissions_listen.items[0], "127.0.0.1", 2465);
	cr_assert_eq(cfg.imap_listen.n, 1);
	test_expect_hostport(&cfg.imap_listen.items[0], "127.0.0.1", 1143);
	cr_assert_eq(cfg.imaps_listen.n, 1);
	test_expect_hostport(&cfg.imaps_listen.items[0], "127.0.0.1", 1993);
	cr_expect_null(cfg.tls_cert);
	cr_expect_null(cfg.tls_key);
	cr_expect_eq(cfg.n_relay_networks, 0);
	cr_expect_eq(cfg.milters.n, 0);
	cr_expect_eq(cfg.milter_default_action, MILTER_ACTION_TEMPFAIL);
	cr_expect_eq(cfg.dns_servers.n, 0);
	cr_expect_eq(cfg.relay_port, 25);
	cr_expect_eq(cfg.smarthost.host[0], '\0');
	cr_expect_eq(cfg.max_message_size, 35ULL * 1024 * 1024);
	cr_expect_eq(cfg.max_recipients, 1000);
	cr_expect_eq(cfg.queue_lifetime, 5ULL * 86400);
	uint64_t retry[] = { 60, 300, 900, 1800, 3600, 7200, 14400 };
	cr_assert_eq(cfg.n_retry_schedule, 7);
	for (size_t i = 0; i < 7; i++)
		cr_expect_eq(cfg.retry_schedule[i], retry[i]);
	cr_expect_str_eq(cfg.run_user, "mail");
	cr_expect_eq(cfg.smtp_timeout, 300);
	cr_expect_eq(cfg.smtp_data_timeout, 180);
	cr_expect_eq(cfg.max_connections, 1000);
	cr_expect_eq(cfg.max_connections_per_ip, 50);
	cr_expect_eq(cfg.smtp_greeting_delay, 0);
	cr_expect_str_eq(cfg.recipient_delimiter, "+");
	config_free(&cfg);
}

Test(config, finish_derives_users_file_and_hostname)
{
	struct config cfg;
	struct timespec t0, t1;

	config_defaults(&cfg);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	config_finish(&cfg);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	cr_expect_str_eq(cfg.users_file, "./var/users");
	cr_assert_not_null(cfg.hostname);
	cr_expect_lt(t1.tv_sec - t0.tv_sec, 3, "hostname lookup blocked too long");

	/* Whatever it found is itself a valid hostname value. */
	char text[400];
	struct config other;
	snprintf(text, sizeof(text), "hostname = %s\n", cfg.hostname);
	cr_expect_eq(test_parse(&other, text), 0, "%s", test_err);
	config_free(&other);
	config_free(&cfg);

	/* users_file follows state_dir, without a doubled slash; an explicit one is kept. */
	cr_assert_eq(test_parse(&cfg, "state_dir = /srv/mail/\nhostname = mx.example.org\n"), 0);
	config_finish(&cfg);
	cr_expect_str_eq(cfg.users_file, "/srv/mail/users");
	cr_expect_str_eq(cfg.hostname, "mx.example.org");
	config_free(&cfg);
	cr_assert_eq(test_parse(&cfg, "state_dir = /srv/mail\nusers_file = /etc/mail/passwd\n"), 0);
	config_finish(&cfg);
	cr_expect_str_eq(cfg.users_file, "/etc/mail/passwd");
	config_free(&cfg);
}

Test(config, every_key_parsed)
{
	static const char text[] =
		"# a full configuration\n"
		"hostname = MX1.Example.ORG.\n"
		"domains = example.org, Example.NET\n"
		"state_dir = /var/lib/mail\n"
		"users_file = /etc/mail/users\n"
		"aliases_file = /etc/mail/aliases\n"
		"smtp_listen = 0.0.0.0:25 [::]:25\n"
		"submission_listen = 192.0.2.1:587\n"
		"submissions_listen = [2001:db8::1]:465\n"
		"imap_listen = localhost:143\n"
		"imaps_listen = 127.0.0.1:993\n"
		"tls_cert = /etc/ssl/mail.pem\n"
		"tls_key = /etc/ssl/mail.key\n"
		"relay_networks = 10.1.2.3/8, 2001:db8:1::/48 192.168.7.7\n"
		"milters = inet:127.0.0.1:8891 unix:/run/milter.sock\n"
		"milter_default_action = reject\n"
		"dns_servers = 192.0.2.53 [2001:db8::53]:5353\n"
		"relay_port = 2525\n"
		"smarthost = [relay.example.net]:587\n"
		"max_message_size = 10M\n"
		"default_quota = 2G\n"
		"max_recipients = 50\n"
		"queue_lifetime = 2d\n"
		"retry_schedule = 30s, 2m, 1h\n"
		"run_user = _mail\n"
		"smtp_timeout = 10m\n"
		"smtp_data_timeout = 90\n"
		"max_connections = 200\n"
		"max_connections_per_ip = 5\n"
		"smtp_greeting_delay = 1500ms\n"
		"recipient_delimiter = +-\n"
		"submission_sender_check = no\n"
		"relay_connect_timeout = 7s\n"
		"relay_command_timeout = 2m\n"
		"relay_data_timeout = 9m\n"
		"auth_failure_delay_max = 3s\n"
		"auth_block_failures = 4\n"
		"auth_block_time = 1h\n"
		"auth_cache_ttl = 5m\n"
		"auth_cache_size = 0\n"
		"relay_max_connections = 50\n"
		"relay_max_per_destination = 3\n"
		"relay_idle_timeout = 2s\n"
		"smarthost_auth_file = /etc/mtad/smarthost.secret\n"
		"delay_warning_time = 0\n"
		"imap_plaintext_auth = yes\n"
		"smtp_milters = inet:[::1]:8892\n"
		"submission_milters = inet:8891@localhost, local:/run/dkim.sock\n"
		"local_milters = \n"
		"trusted_users = www-data, backup\n"
		"milter_connect_timeout = 3s\n"
		"milter_command_timeout = 1m\n"
		"milter_eom_timeout = 7m\n"
		"milter_daemon_name = mx1.example.org\n"
		"smtp_milter_daemon_name = inbound\n"
		"submission_milter_daemon_name = ORIGINATING\n"
		"local_milter_daemon_name = LOCAL\n"
		"metrics_listen = 127.0.0.1:9325\n"
		"http_listen = [::]:80\n"
		"imap_metrics_listen = 127.0.0.1:9326\n"
		"lmtp_listen = unix:/run/mtad/lmtp.sock\n"
		"mailbox_routes = /etc/mtad/routes\n"
		"imap_proxy = yes\n"
		"imap_proxy_auth = backend\n"
		"opendkim_conf = /etc/opendkim/signing.conf\n"
		"acme = yes\n"
		"acme_directory = https://acme-staging-v02.api.letsencrypt.org/directory\n"
		"acme_ca_file = /etc/ssl/acme-ca.pem\n"
		"acme_email = hostmaster@example.org\n"
		"relay_tls_security = dane-only\n"
		"relay_tls_policy_file = /etc/mtad/tls_policy\n"
		"relay_tls_ca_file = /etc/mtad/ca.pem\n"
		"dnssec_trust_anchor = /etc/mtad/root.key\n"
		"tlsrpt_reports = no\n"
		"tlsrpt_contact = tlsrpt@example.org\n";
	struct config cfg;

	cr_assert_eq(test_parse(&cfg, text), 0, "%s", test_err);
	cr_expect_str_eq(cfg.hostname, "mx1.example.org");
	cr_assert_eq(cfg.domains.n, 2);
	cr_expect_str_eq(cfg.domains.items[0], "example.org");
	cr_expect_str_eq(cfg.domains.items[1], "example.net");
	cr_expect_str_eq(cfg.state_dir, "/var/lib/mail");
	cr_expect_str_eq(cfg.users_file, "/etc/mail/users");
	cr_expect_str_eq(cfg.aliases_file, "/etc/mail/aliases");
	cr_assert_eq(cfg.smtp_listen.n, 2);
	test_expect_hostport(&cfg.smtp_listen.items[0], "0.0.0.0", 25);
	test_expect_hostport(&cfg.smtp_listen.items[1], "::", 25);
	test_expect_hostport(&cfg.submission_listen.items[0], "192.0.2.1", 587);
	test_expect_hostport(&cfg.submissions_listen.items[0], "2001:db8::1", 465);
	test_expect_hostport(&cfg.imap_listen.items[0], "localhost", 143);
	test_expect_hostport(&cfg.imaps_listen.items[0], "127.0.0.1", 993);
	cr_expect_str_eq(cfg.tls_cert, "/etc/ssl/mail.pem");
	cr_expect_str_eq(cfg.tls_key, "/etc/ssl/mail.key");
	cr_assert_eq(cfg.n_relay_networks, 3);
	cr_expect_eq(cfg.relay_networks[0].family, AF_INET);
	cr_expect_eq(cfg.relay_networks[0].prefix, 8);
	uint8_t ten[4] = { 10, 0, 0, 0 }; /* host bits cleared */
	cr_expect_arr_eq(cfg.relay_networks[0].addr, ten, 4);
	cr_expect_eq(cfg.relay_networks[1].family, AF_INET6);
	cr_expect_eq(cfg.relay_networks[1].prefix, 48);
	cr_expect_eq(cfg.relay_networks[2].prefix, 32);
	cr_assert_eq(cfg.milters.n, 2);
	cr_expect_str_eq(cfg.milters.items[0], "inet:127.0.0.1:8891");
	cr_expect_str_eq(cfg.milters.items[1], "unix:/run/milter.sock");
	cr_expect_eq(cfg.milter_default_action, MILTER_ACTION_REJECT);
	cr_assert_eq(cfg.dns_servers.n, 2);
	test_expect_hostport(&cfg.dns_servers.items[0], "192.0.2.53", 53);
	test_expect_hostport(&cfg.dns_servers.items[1], "2001:db8::53", 5353);
	cr_expect_eq(cfg.relay_port, 2525);
	test_expect_hostport(&cfg.smarthost, "relay.example.net", 587);
	cr_expect_eq(cfg.max_message_size, 10ULL << 20);
	cr_expect_eq(cfg.default_quota, 2ULL << 30);
	cr_expect_eq(cfg.max_recipients, 50);
	cr_expect_eq(cfg.queue_lifetime, 2ULL * 86400);
	cr_assert_eq(cfg.n_retry_schedule, 3);
	cr_expect_eq(cfg.retry_schedule[0], 30);
	cr_expect_eq(cfg.retry_schedule[1], 120);
	cr_expect_eq(cfg.retry_schedule[2], 3600);
	cr_expect_str_eq(cfg.run_user, "_mail");
	cr_expect_eq(cfg.smtp_timeout, 600);
	cr_expect_eq(cfg.smtp_data_timeout, 90);
	cr_expect_eq(cfg.max_connections, 200);
	cr_expect_eq(cfg.max_connections_per_ip, 5);
	cr_expect_eq(cfg.smtp_greeting_delay, 1500);
	cr_expect_str_eq(cfg.recipient_delimiter, "+-");
	cr_expect_not(cfg.submission_sender_check);
	cr_expect_eq(cfg.relay_connect_timeout, 7);
	cr_expect_eq(cfg.relay_command_timeout, 120);
	cr_expect_eq(cfg.relay_data_timeout, 540);
	cr_expect_eq(cfg.auth_failure_delay_max, 3);
	cr_expect_eq(cfg.auth_block_failures, 4);
	cr_expect_eq(cfg.auth_block_time, 3600);
	cr_expect_eq(cfg.auth_cache_ttl, 300);
	cr_expect_eq(cfg.auth_cache_size, 0);
	cr_expect_eq(cfg.relay_max_connections, 50);
	cr_expect_eq(cfg.relay_max_per_destination, 3);
	cr_expect_eq(cfg.relay_idle_timeout, 2);
	cr_expect_str_eq(cfg.smarthost_auth_file, "/etc/mtad/smarthost.secret");
	cr_expect_eq(cfg.delay_warning_time, 0);
	cr_expect(cfg.imap_plaintext_auth);
	cr_expect_str_eq(cfg.opendkim_conf, "/etc/opendkim/signing.conf");
	cr_expect(cfg.acme);
	cr_expect_str_eq(cfg.acme_directory,
			 "https://acme-staging-v02.api.letsencrypt.org/directory");
	cr_expect_str_eq(cfg.acme_ca_file, "/etc/ssl/acme-ca.pem");
	cr_expect_str_eq(cfg.acme_email, "hostmaster@example.org");
	cr_assert_eq(cfg.smtp_milters.n, 1);
	cr_expect_str_eq(cfg.smtp_milters.items[0], "inet6:::1:8892");
	cr_assert_eq(cfg.submission_milters.n, 2);
	cr_expect_str_eq(cfg.submission_milters.items[0], "inet:localhost:8891");
	cr_expect_str_eq(cfg.submission_milters.items[1], "unix:/run/dkim.sock");
	cr_expect_not_null(cfg.local_milters.items, "an empty list is set, not unset");
	cr_expect_eq(cfg.local_milters.n, 0);
	cr_assert_eq(cfg.trusted_users.n, 2);
	cr_expect_str_eq(cfg.trusted_users.items[0], "www-data");
	cr_expect_str_eq(cfg.trusted_users.items[1], "backup");
	cr_expect_eq(cfg.milter_connect_timeout, 3);
	cr_expect_eq(cfg.milter_command_timeout, 60);
	cr_expect_eq(cfg.milter_eom_timeout, 420);
	cr_expect_str_eq(cfg.milter_daemon_name, "mx1.example.org");
	cr_expect_str_eq(cfg.smtp_milter_daemon_name, "inbound");
	cr_expect_str_eq(cfg.submission_milter_daemon_name, "ORIGINATING");
	cr_expect_str_eq(cfg.local_milter_daemon_name, "LOCAL");
	cr_expect_str_eq(cfg.lmtp_listen, "unix:/run/mtad/lmtp.sock");
	cr_expect_str_eq(cfg.mailbox_routes, "/etc/mtad/routes");
	cr_expect(cfg.imap_proxy);
	cr_expect_str_eq(cfg.imap_proxy_auth, "backend");
	test_expect_hostport(&cfg.metrics_listen, "127.0.0.1", 9325);
	test_expect_hostport(&cfg.http_listen, "::", 80);
	test_expect_hostport(&cfg.imap_metrics_listen, "127.0.0.1", 9326);
	cr_expect_eq(config_key_line(&cfg, "http_listen"), 59, "the line that set it");
	cr_expect_eq(config_key_line(&cfg, "no_such_key"), 0, "not a key");
	cr_expect_eq(cfg.relay_tls_security, TLS_LEVEL_DANE_ONLY);
	cr_expect_str_eq(cfg.relay_tls_policy_file, "/etc/mtad/tls_policy");
	cr_expect_str_eq(cfg.relay_tls_ca_file, "/etc/mtad/ca.pem");
	cr_expect_str_eq(cfg.dnssec_trust_anchor, "/etc/mtad/root.key");
	cr_expect(!cfg.tlsrpt_reports);
	cr_expect_str_eq(cfg.tlsrpt_contact, "tlsrpt@example.org");

	/* The test text sets every key of the table. */
	const char *name;
	for (size_t i = 0; (name = config_key(i, NULL)) != NULL; i++) {
		char needle[80];
		snprintf(needle, sizeof(needle), "\n%s = ", name);
		cr_expect_not_null(strstr(text, needle), "key %s not covered", name);
	}
	config_free(&cfg);
}

Test(config, error_unknown_key)
{
	test_expect_error("hostname = mx.example.org\nhostnme = x\n",
			  "t.conf:2: unknown key 'hostnme'");
	test_expect_error("Hostname = x\n", "t.conf:1: unknown key 'Hostname'");
	test_expect_error("= x\n", "t.conf:1: missing key before '='");
}

Test(config, error_duplicate_key)
{
	test_expect_error("domains = a.example\n# again\n\ndomains = b.example\n",
			  "t.conf:4: duplicate key 'domains' (first set on line 1)");
	test_expect_error("smtp_listen =\nsmtp_listen =\n",
			  "t.conf:2: duplicate key 'smtp_listen' (first set on line 1)");
}

Test(config, error_missing_equals)
{
	test_expect_error(
		"\n\nhostname mx.example.org   \n",
		"t.conf:3: missing '=' in 'hostname mx.example.org' (expected key = value)");
}

Test(config, error_bad_size)
{
	test_expect_error("max_message_size = 35X\n",
			  "t.conf:1: max_message_size: '35X': unknown size suffix (use k, M or G)");
	test_expect_error("max_message_size = -5\n",
			  "t.conf:1: max_message_size: '-5': negative values are not allowed");
	test_expect_error("max_message_size = 99999999999999999999\n",
			  "t.conf:1: max_message_size: '99999999999999999999': number too large");
	test_expect_error("max_message_size = 17179869184G\n",
			  "t.conf:1: max_message_size: '17179869184G': number too large");
	test_expect_error(
		"max_message_size = 2048G\n",
		"t.conf:1: max_message_size: '2048G': must be between 1 and 1099511627776 bytes");
	test_expect_error(
		"max_message_size = 0\n",
		"t.conf:1: max_message_size: '0': must be between 1 and 1099511627776 bytes");
	test_expect_error("max_message_size =\n", "t.conf:1: max_message_size: empty value");
	test_expect_error("max_message_size = 10 M\n",
			  "t.conf:1: max_message_size: expected one value, got 2");
}

Test(config, error_bad_duration)
{
	test_expect_error(
		"queue_lifetime = 5y\n",
		"t.conf:1: queue_lifetime: '5y': unknown duration suffix (use s, m, h or d)");
	test_expect_error(
		"smtp_timeout = 500ms\n",
		"t.conf:1: smtp_timeout: '500ms': sub-second durations are not supported");
	test_expect_error("smtp_timeout = 0\n",
			  "t.conf:1: smtp_timeout: '0': must be between 1s and 3650d");
	test_expect_error("queue_lifetime = 3651d\n",
			  "t.conf:1: queue_lifetime: '3651d': must be between 0s and 3650d");
	test_expect_error(
		"retry_schedule = 1m, 5x\n",
		"t.conf:1: retry_schedule: '5x': unknown duration suffix (use s, m, h or d)");
	test_expect_error("retry_schedule =\n", "t.conf:1: retry_schedule: empty value");
	test_expect_error("retry_schedule = , ,\n", "t.conf:1: retry_schedule: empty value");
	test_expect_error("smtp_greeting_delay = 10m\n",
			  "t.conf:1: smtp_greeting_delay: '10m': must be between 0 and 300000 ms");
	test_expect_error("smtp_greeting_delay = 1h\n",
			  "t.conf:1: smtp_greeting_delay: '1h': unknown suffix (use ms, s or m)");
}

Test(config, error_bad_port)
{
	test_expect_error("smtp_listen = 127.0.0.1:0\n",
			  "t.conf:1: smtp_listen: '127.0.0.1:0': bad port (use 1-65535)");
	test_expect_error("imap_listen = 127.0.0.1:65536\n",
			  "t.conf:1: imap_listen: '127.0.0.1:65536': bad port (use 1-65535)");
	test_expect_error("imap_listen = 127.0.0.1\n",
			  "t.conf:1: imap_listen: '127.0.0.1': missing port (use HOST:PORT)");
	test_expect_error(
		"imap_listen = ::1:143\n",
		"t.conf:1: imap_listen: '::1:143': an IPv6 address needs brackets, as in [::1]:25");
	test_expect_error("imap_listen = [::1:143\n",
			  "t.conf:1: imap_listen: '[::1:143': missing ']'");
	test_expect_error("imap_listen = :143\n", "t.conf:1: imap_listen: ':143': missing host");
	test_expect_error(
		"imap_listen = 127.0.0.300:143\n",
		"t.conf:1: imap_listen: '127.0.0.300:143': not a valid IP address or domain name");
	test_expect_error("relay_port = 0\n", "t.conf:1: relay_port: '0': bad port (use 1-65535)");
	test_expect_error("relay_port = 25x\n",
			  "t.conf:1: relay_port: '25x': bad port (use 1-65535)");
	test_expect_error("dns_servers = ns.example.org\n",
			  "t.conf:1: dns_servers: 'ns.example.org': not an IP address");
	test_expect_error("smarthost = [relay.example]:x\n",
			  "t.conf:1: smarthost: '[relay.example]:x': bad port (use 1-65535)");
	test_expect_error("smarthost = a.example b.example\n",
			  "t.conf:1: smarthost: expected one value, got 2");
	test_expect_error(
		"lmtp_listen = unix:run/lmtp.sock\n",
		"t.conf:1: lmtp_listen: 'unix:run/lmtp.sock': unix: needs an absolute path");
	test_expect_error("lmtp_listen = backend.example:24\n",
			  "t.conf:1: lmtp_listen: 'backend.example:24': not an IP address");
}

Test(config, error_bad_cidr)
{
	test_expect_error("relay_networks = 10.0.0.0/33\n",
			  "t.conf:1: relay_networks: '10.0.0.0/33': bad prefix length (use 0-32)");
	test_expect_error(
		"relay_networks = 2001:db8::/129\n",
		"t.conf:1: relay_networks: '2001:db8::/129': bad prefix length (use 0-128)");
	test_expect_error("relay_networks = 10.0.0/8\n",
			  "t.conf:1: relay_networks: '10.0.0/8': not an IPv4 or IPv6 address");
	test_expect_error("relay_networks = 10.0.0.0/\n",
			  "t.conf:1: relay_networks: '10.0.0.0/': bad prefix length (use 0-32)");
	test_expect_error("relay_networks = 10.0.0.0/-1\n",
			  "t.conf:1: relay_networks: '10.0.0.0/-1': bad prefix length (use 0-32)");
	test_expect_error("relay_networks = 127.0.0.1 localhost\n",
			  "t.conf:1: relay_networks: 'localhost': not an IPv4 or IPv6 address");
}

Test(config, error_bad_milter_and_action)
{
	test_expect_error("milters = tcp:127.0.0.1:8891\n",
			  "t.conf:1: milters: 'tcp:127.0.0.1:8891': a milter is inet:HOST:PORT, "
			  "inet6:HOST:PORT or unix:/PATH");
	test_expect_error("milters = unix:run/m.sock\n",
			  "t.conf:1: milters: 'unix:run/m.sock': a unix milter socket needs an "
			  "absolute path");
	test_expect_error("milters = inet:127.0.0.1\n",
			  "t.conf:1: milters: 'inet:127.0.0.1': missing port (use HOST:PORT)");
	test_expect_error("milters = inet6:127.0.0.1:99\n",
			  "t.conf:1: milters: 'inet6:127.0.0.1:99': inet6 needs an IPv6 address or "
			  "a host name");
	test_expect_error(
		"milter_default_action = discard\n",
		"t.conf:1: milter_default_action: 'discard': expected tempfail, reject or accept");
	test_expect_error("relay_tls_security = mandatory\n",
			  "t.conf:1: relay_tls_security: 'mandatory': expected none, may, encrypt, "
			  "dane, dane-only, verify or secure");
}

Test(config, error_other_values)
{
	test_expect_error(
		"domains = example.org, bad_domain.example\n",
		"t.conf:1: domains: 'bad_domain.example': invalid character in domain name");
	test_expect_error("domains = a..example\n",
			  "t.conf:1: domains: 'a..example': empty label in domain name");
	test_expect_error("hostname = -mx.example\n",
			  "t.conf:1: hostname: '-mx.example': domain name label starts with '-'");
	test_expect_error("hostname = mx.b\xc3\xa4r.example\n",
			  "t.conf:1: hostname: 'mx.b??r.example': non-ASCII domain name (write it "
			  "in the xn-- form)");
	test_expect_error("hostname =\n", "t.conf:1: hostname: empty value");
	test_expect_error("max_recipients = 0\n",
			  "t.conf:1: max_recipients: '0': must be between 1 and 1000000");
	test_expect_error("max_recipients = ten\n",
			  "t.conf:1: max_recipients: 'ten': not a number");
	test_expect_error("max_connections = 10k\n",
			  "t.conf:1: max_connections: '10k': not a number");
	test_expect_error("recipient_delimiter = a\n",
			  "t.conf:1: recipient_delimiter: 'a': only punctuation characters other "
			  "than @ \" \\ are allowed");
	test_expect_error("run_user = mail nobody\n",
			  "t.conf:1: run_user: expected one value, got 2");
	test_expect_error("state_dir =\n", "t.conf:1: state_dir: empty value");
	test_expect_error("tls_cert = /etc/c.pem\n",
			  "t.conf:1: tls_cert is set but tls_key is not");
	test_expect_error("\ntls_key = /etc/k.pem\n",
			  "t.conf:2: tls_key is set but tls_cert is not");
}

Test(config, error_line_numbers_and_bytes)
{
	struct config cfg;
	const char text[] = "# comment\r\n\r\nhostname = mx.example.org\r\nbogus\0 = 1\n";

	config_defaults(&cfg);
	cr_expect_eq(
		config_parse(&cfg, "t.conf", text, sizeof(text) - 1, test_err, sizeof(test_err)),
		-1);
	cr_expect_str_eq(test_err, "t.conf:4: NUL byte in line");
	config_free(&cfg);

	/* A long key is cut in the message, and control bytes are shown as '?'. */
	test_expect_error("a\x01\x02\x03"
			  "bcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstu"
			  "vwxyz = 1\n",
			  "t.conf:1: unknown key "
			  "'a???bcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghi...'");
	/* The error names the file it was given. */
	config_defaults(&cfg);
	cr_expect_eq(config_parse(&cfg, "/etc/mail.conf", "\n\n\n\n\n\nhostnme = x", 17, test_err,
				  sizeof(test_err)),
		     -1);
	cr_expect_str_eq(test_err, "/etc/mail.conf:7: unknown key 'hostnme'");
	config_free(&cfg);
}

Test(config, comments_blank_lines_and_lists)
{
	struct config cfg;
	static const char text[] = "\xef\xbb\xbf# leading comment\n"
				   "   # indented comment\n"
				   "\t\n"
				   "domains = Example.COM,example.net ,  foo.example,,bar.example  "
				   " # trailing comment\n"
				   "aliases_file = /etc/mail/a#b  # '#' inside a word is kept\n"
				   "state_dir = /srv/my mail, dir\n"
				   "smtp_listen =\n"
				   "submission_listen = # disabled, the comment is not the value\n"
				   "relay_networks=127.0.0.1\t::1\n"
				   "recipient_delimiter =\n"
				   "smarthost =\n"
				   "milters = inet:8891@localhost, inet6:::1:8892 inet:[::1]:8893 "
				   "local:/run/m inet6:9000@[::1]\n"
				   "hostname = mx.example.org\r\n";

	cr_assert_eq(test_parse(&cfg, text), 0, "%s", test_err);
	cr_assert_eq(cfg.domains.n, 4);
	cr_expect_str_eq(cfg.domains.items[0], "example.com");
	cr_expect_str_eq(cfg.domains.items[1], "example.net");
	cr_expect_str_eq(cfg.domains.items[2], "foo.example");
	cr_expect_str_eq(cfg.domains.items[3], "bar.example");
	cr_expect_str_eq(cfg.aliases_file, "/etc/mail/a#b");
	cr_expect_str_eq(cfg.state_dir, "/srv/my mail, dir");
	cr_expect_eq(cfg.smtp_listen.n, 0);
	cr_expect_eq(cfg.submission_listen.n, 0);
	cr_expect_eq(cfg.submissions_listen.n, 1);
	cr_expect_eq(cfg.n_relay_networks, 2);
	cr_expect_str_eq(cfg.recipient_delimiter, "");
	cr_expect_eq(cfg.smarthost.host[0], '\0');
	cr_assert_eq(cfg.milters.n, 5);
	cr_expect_str_eq(cfg.milters.items[0], "inet:localhost:8891");
	cr_expect_str_eq(cfg.milters.items[1], "inet6:::1:8892");
	cr_expect_str_eq(cfg.milters.items[2], "inet6:::1:8893");
	cr_expect_str_eq(cfg.milters.items[3], "unix:/run/m");
	cr_expect_str_eq(cfg.milters.items[4], "inet6:::1:9000");
	cr_expect_str_eq(cfg.hostname, "mx.example.org");
	config_free(&cfg);

	/* An empty file and a file of comments give the defaults. */
	test_expect_ok("");
	test_expect_ok("# nothing\n\n   \n");
}

Test(config, milter_specs_parse_back)
{
	struct config_milter m;
	const char *e;

	cr_assert_eq(config_parse_milter("inet:127.0.0.1:8891", &m, &e), 0);
	cr_expect_eq(m.family, AF_INET);
	cr_expect_str_eq(m.host, "127.0.0.1");
	cr_expect_eq(m.port, 8891);
	cr_assert_eq(config_parse_milter("inet6:::1:8892", &m, &e), 0);
	cr_expect_eq(m.family, AF_INET6);
	cr_expect_str_eq(m.host, "::1");
	cr_expect_eq(m.port, 8892);
	cr_assert_eq(config_parse_milter("inet:milter.example:10025", &m, &e), 0);
	cr_expect_eq(m.family, AF_INET);
	cr_expect_str_eq(m.host, "milter.example");
	cr_assert_eq(config_parse_milter("unix:/var/run/opendkim.sock", &m, &e), 0);
	cr_expect_eq(m.family, AF_UNIX);
	cr_expect_str_eq(m.path, "/var/run/opendkim.sock");

	char longpath[200];
	memset(longpath, 'a', sizeof(longpath));
	memcpy(longpath, "unix:/", 6);
	longpath[sizeof(longpath) - 1] = '\0';
	cr_expect_eq(config_parse_milter(longpath, &m, &e), -1);
	cr_expect_str_eq(e, "unix socket path too long");
	cr_expect_eq(config_parse_milter("inet:70000@localhost", &m, &e), -1);
	cr_expect_eq(config_parse_milter("inet:@localhost", &m, &e), -1);
	cr_expect_eq(config_parse_milter("inet:25@", &m, &e), -1);

	/* Every normalised entry stored in a config parses back. */
	struct config cfg;
	cr_assert_eq(test_parse(&cfg, "milters = inet:25@[::1] inet:[10.0.0.1]:1 unix:/x\n"), 0,
		     "%s", test_err);
	for (size_t i = 0; i < cfg.milters.n; i++)
		cr_expect_eq(config_parse_milter(cfg.milters.items[i], &m, &e), 0, "%s",
			     cfg.milters.items[i]);
	config_free(&cfg);
}

Test(config, smarthost_and_dns_forms)
{
	struct config cfg;

	cr_assert_eq(test_parse(&cfg, "smarthost = [relay.example]\n"), 0, "%s", test_err);
	test_expect_hostport(&cfg.smarthost, "relay.example", 25);
	config_free(&cfg);
	cr_assert_eq(test_parse(&cfg, "smarthost = relay.example:2525\n"), 0, "%s", test_err);
	test_expect_hostport(&cfg.smarthost, "relay.example", 2525);
	config_free(&cfg);
	cr_assert_eq(test_parse(&cfg, "smarthost = [2001:db8::25]:587\n"), 0, "%s", test_err);
	test_expect_hostport(&cfg.smarthost, "2001:db8::25", 587);
	config_free(&cfg);
	cr_assert_eq(test_parse(&cfg, "smarthost = relay.example\n"), 0, "%s", test_err);
	test_expect_hostport(&cfg.smarthost, "relay.example", 25);
	config_free(&cfg);

	cr_assert_eq(
		test_parse(&cfg, "dns_servers = 127.0.0.53, 2001:db8::53 [::1] 10.0.0.1:5353\n"), 0,
		"%s", test_err);
	cr_assert_eq(cfg.dns_servers.n, 4);
	test_expect_hostport(&cfg.dns_servers.items[0], "127.0.0.53", 53);
	test_expect_hostport(&cfg.dns_servers.items[1], "2001:db8::53", 53);
	test_expect_hostport(&cfg.dns_servers.items[2], "::1", 53);
	test_expect_hostport(&cfg.dns_servers.items[3], "10.0.0.1", 5353);
	config_free(&cfg);
}

static bool test_relays(const struct config *cfg, const char *ip)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	if (strchr(ip, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		cr_assert_eq(inet_pton(AF_INET6, ip, &s6->sin6_addr), 1);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		cr_assert_eq(inet_pton(AF_INET, ip, &s4->sin_addr), 1);
	}
	return config_in_relay_networks(cfg, (struct sockaddr *)&ss);
}

Test(config, relay_network_matching)
{
	struct config cfg;

	cr_assert_eq(test_parse(&cfg, "relay_networks = 192.168.1.77/24 10.0.0.1 172.16.0.0/12 "
				      "2001:db8:abcd::/48 [::1]\n"),
		     0, "%s", test_err);
	cr_expect(test_relays(&cfg, "192.168.1.1"));
	cr_expect(test_relays(&cfg, "192.168.1.255"));
	cr_expect_not(test_relays(&cfg, "192.168.2.1"));
	cr_expect(test_relays(&cfg, "10.0.0.1"));
	cr_expect_not(test_relays(&cfg, "10.0.0.2"));
	cr_expect(test_relays(&cfg, "172.31.255.255"));
	cr_expect_not(test_relays(&cfg, "172.32.0.0"));
	cr_expect(test_relays(&cfg, "2001:db8:abcd:12::5"));
	cr_expect_not(test_relays(&cfg, "2001:db8:abce::5"));
	cr_expect(test_relays(&cfg, "::1"));
	cr_expect_not(test_relays(&cfg, "::2"));
	/* IPv4-mapped IPv6 clients match IPv4 networks (dual-stack listeners). */
	cr_expect(test_relays(&cfg, "::ffff:192.168.1.9"));
	cr_expect(test_relays(&cfg, "::ffff:10.0.0.1"));
	cr_expect_not(test_relays(&cfg, "::ffff:10.0.0.2"));
	cr_expect_not(config_in_relay_networks(&cfg, NULL));
	config_free(&cfg);

	/* Defaults: nobody relays. /0 opens everything of one family. */
	cr_assert_eq(test_parse(&cfg, ""), 0);
	cr_expect_not(test_relays(&cfg, "127.0.0.1"));
	config_free(&cfg);
	cr_assert_eq(test_parse(&cfg, "relay_networks = 0.0.0.0/0\n"), 0);
	cr_expect(test_relays(&cfg, "203.0.113.9"));
	cr_expect_not(test_relays(&cfg, "2001:db8::1"));
	config_free(&cfg);
	/* Odd prefix lengths compare the partial byte. */
	cr_assert_eq(test_parse(&cfg, "relay_networks = 10.0.0.128/25, 2001:db8::/33\n"), 0);
	cr_expect(test_relays(&cfg, "10.0.0.200"));
	cr_expect_not(test_relays(&cfg, "10.0.0.127"));
	cr_expect(test_relays(&cfg, "2001:db8:7fff::1"));
	cr_expect_not(test_relays(&cfg, "2001:db8:8000::1"));
	config_free(&cfg);
}

Test(config, local_domains)
{
	struct config cfg;

	cr_assert_eq(test_parse(&cfg, "domains = example.org, Mail.Example.NET\n"), 0);
	cr_expect(config_is_local_domain(&cfg, "example.org"));
	cr_expect(config_is_local_domain(&cfg, "EXAMPLE.ORG"));
	cr_expect(config_is_local_domain(&cfg, "mail.example.net"));
	cr_expect(config_is_local_domain(&cfg, "example.org."));
	cr_expect_not(config_is_local_domain(&cfg, "example.or"));
	cr_expect_not(config_is_local_domain(&cfg, "xexample.org"));
	cr_expect_not(config_is_local_domain(&cfg, "localhost"));
	cr_expect_not(config_is_local_domain(&cfg, ""));
	cr_expect_not(config_is_local_domain(&cfg, NULL));
	config_free(&cfg);

	cr_assert_eq(test_parse(&cfg, "domains =\n"), 0);
	cr_expect_not(config_is_local_domain(&cfg, "localhost"));
	config_free(&cfg);
}

Test(config, size_parsing_edges)
{
	uint64_t v;

	cr_expect_eq(config_parse_size("0", &v), 0);
	cr_expect_eq(v, 0);
	cr_expect_eq(config_parse_size("123", &v), 0);
	cr_expect_eq(v, 123);
	cr_expect_eq(config_parse_size("1k", &v), 0);
	cr_expect_eq(v, 1024);
	cr_expect_eq(config_parse_size("12K", &v), 0);
	cr_expect_eq(v, 12 * 1024);
	cr_expect_eq(config_parse_size("35M", &v), 0);
	cr_expect_eq(v, 35ULL << 20);
	cr_expect_eq(config_parse_size("1G", &v), 0);
	cr_expect_eq(v, 1ULL << 30);
	cr_expect_eq(config_parse_size("18446744073709551615", &v), 0);
	cr_expect_eq(v, UINT64_MAX);
	cr_expect_eq(config_parse_size("17179869183G", &v), 0);
	cr_expect_eq(config_parse_size("17179869184G", &v), -1);
	cr_expect_eq(config_parse_size("18446744073709551616", &v), -1);
	cr_expect_eq(config_parse_size("", &v), -1);
	cr_expect_eq(config_parse_size("-1", &v), -1);
	cr_expect_eq(config_parse_size("+1", &v), -1);
	cr_expect_eq(config_parse_size(" 1", &v), -1);
	cr_expect_eq(config_parse_size("1 ", &v), -1);
	cr_expect_eq(config_parse_size("1T", &v), -1);
	cr_expect_eq(config_parse_size("1MB", &v), -1);
	cr_expect_eq(config_parse_size("k", &v), -1);
	cr_expect_eq(config_parse_size("0x10", &v), -1);
	cr_expect_eq(config_parse_size(NULL, &v), -1);
}

Test(config, duration_parsing_edges)
{
	uint64_t v;

	cr_expect_eq(config_parse_duration("0", &v), 0);
	cr_expect_eq(v, 0);
	cr_expect_eq(config_parse_duration("90", &v), 0);
	cr_expect_eq(v, 90);
	cr_expect_eq(config_parse_duration("30s", &v), 0);
	cr_expect_eq(v, 30);
	cr_expect_eq(config_parse_duration("5m", &v), 0);
	cr_expect_eq(v, 300);
	cr_expect_eq(config_parse_duration("2h", &v), 0);
	cr_expect_eq(v, 7200);
	cr_expect_eq(config_parse_duration("5d", &v), 0);
	cr_expect_eq(v, 432000);
	cr_expect_eq(config_parse_duration("213503982334601d", &v), 0);
	cr_expect_eq(config_parse_duration("213503982334602d", &v), -1);
	cr_expect_eq(config_parse_duration("", &v), -1);
	cr_expect_eq(config_parse_duration("-5m", &v), -1);
	cr_expect_eq(config_parse_duration("5", &v), 0);
	cr_expect_eq(config_parse_duration("5w", &v), -1);
	cr_expect_eq(config_parse_duration("5M", &v), -1);
	cr_expect_eq(config_parse_duration("5ms", &v), -1);
	cr_expect_eq(config_parse_duration("1h30m", &v), -1);
	cr_expect_eq(config_parse_duration("m", &v), -1);

	cr_expect_eq(config_parse_millis("250", &v), 0);
	cr_expect_eq(v, 250);
	cr_expect_eq(config_parse_millis("500ms", &v), 0);
	cr_expect_eq(v, 500);
	cr_expect_eq(config_parse_millis("2s", &v), 0);
	cr_expect_eq(v, 2000);
	cr_expect_eq(config_parse_millis("1m", &v), 0);
	cr_expect_eq(v, 60000);
	cr_expect_eq(config_parse_millis("1.5s", &v), -1);
	cr_expect_eq(config_parse_millis("", &v), -1);
}

Test(config, load_file)
{
	struct config cfg;
	char *path = test_write_temp(
		"hostname = mx.example.org\nstate_dir = /tmp/st\nmax_recipients = 7\n");

	cr_assert_eq(config_load(&cfg, path, test_err, sizeof(test_err)), 0, "%s", test_err);
	cr_expect_str_eq(cfg.path, path);
	cr_expect_eq(cfg.max_recipients, 7);
	cr_expect_str_eq(cfg.users_file, "/tmp/st/users"); /* finished */
	cr_expect_str_eq(cfg.hostname, "mx.example.org");
	config_free(&cfg);
	config_free(&cfg); /* twice is harmless */
	unlink(path);
	free(path);

	path = test_write_temp("hostname = mx.example.org\n\nrelay_port = 0\n");
	char want[512];
	snprintf(want, sizeof(want), "%s:3: relay_port: '0': bad port (use 1-65535)", path);
	cr_expect_eq(config_load(&cfg, path, test_err, sizeof(test_err)), -1);
	cr_expect_str_eq(test_err, want);
	cr_expect_null(cfg.state_dir, "cfg is freed on error");
	unlink(path);
	free(path);

	cr_expect_eq(config_load(&cfg, "/nonexistent/mail.conf", test_err, sizeof(test_err)), -1);
	cr_expect_str_eq(test_err, "/nonexistent/mail.conf:0: No such file or directory");
	cr_expect_eq(config_load(&cfg, "/tmp", test_err, sizeof(test_err)), -1);
	cr_expect_str_eq(test_err, "/tmp:0: Is a directory");
}

Test(config, load_refuses_huge_file)
{
	struct config cfg;
	char *path = test_write_temp("");
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	for (int i = 0; i < 40000; i++)
		fputs("# padding padding padding padding\n", f);
	fclose(f);
	char want[512];
	snprintf(want, sizeof(want), "%s:0: %s", path, strerror(EFBIG));
	cr_expect_eq(config_load(&cfg, path, test_err, sizeof(test_err)), -1);
	cr_expect_str_eq(test_err, want);
	unlink(path);
	free(path);
}

Test(config, default_path)
{
	setenv("MAIL_CONF", "/etc/other.conf", 1);
	cr_expect_str_eq(config_default_path(), "/etc/other.conf");
	setenv("MAIL_CONF", "", 1);
	const char *p = config_default_path();
	if (p)
		cr_expect_eq(access(p, F_OK), 0, "default path %s does not exist", p);
	unsetenv("MAIL_CONF");
	p = config_default_path();
	if (p)
		cr_expect(strstr(p, "/etc/mail.conf") != NULL);
}

Test(config, load_or_exit_with_defaults)
{
	struct config cfg;
	char *path = test_write_temp("domains = example.org\n");

	setenv("MAIL_CONF", path, 1);
	config_load_or_exit(&cfg, NULL);
	cr_expect_str_eq(cfg.path, path);
	cr_expect(config_is_local_domain(&cfg, "example.org"));
	config_free(&cfg);
	unsetenv("MAIL_CONF");
	unlink(path);
	free(path);
}

static void test_bad_config_env(void)
{
	static char path[] = "/tmp/test_config_bad_XXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, "hostnme = x\n", 12), 12);
	close(fd);
	setenv("MAIL_CONF", path, 1);
	cr_redirect_stderr();
}

Test(config, load_or_exit_exits_78, .init = test_bad_config_env, .exit_code = 78)
{
	struct config cfg;
	config_load_or_exit(&cfg, NULL);
	cr_assert_fail("config_load_or_exit returned on a bad file");
}

Test(config, load_or_exit_message_names_file_and_line)
{
	/* The line config_load_or_exit prints is "PROG: " plus config_load's error. */
	struct config cfg;
	char *path = test_write_temp("\nhostnme = x\n");
	char want[512];
	snprintf(want, sizeof(want), "%s:2: unknown key 'hostnme'", path);
	cr_expect_eq(config_load(&cfg, path, test_err, sizeof(test_err)), -1);
	cr_expect_str_eq(test_err, want);
	unlink(path);
	free(path);
}

Test(config, reparse_replaces_values)
{
	struct config cfg;

	cr_assert_eq(test_parse(&cfg, "domains = a.example\nrelay_networks = 10.0.0.0/8\n"), 0);
	/* A second text over the same cfg (e.g. a drop-in) replaces, it does not leak or merge. */
	cr_assert_eq(config_parse(&cfg, "u.conf", "domains = b.example\n",
				  strlen("domains = b.example\n"), test_err, sizeof(test_err)),
		     0);
	cr_assert_eq(cfg.domains.n, 1);
	cr_expect_str_eq(cfg.domains.items[0], "b.example");
	cr_expect_eq(cfg.n_relay_networks, 1);
	/* A failing value leaves the old one in place. */
	cr_assert_eq(config_parse(&cfg, "u.conf", "domains = ok.example bad..example\n",
				  strlen("domains = ok.example bad..example\n"), test_err,
				  sizeof(test_err)),
		     -1);
	cr_expect_str_eq(cfg.domains.items[0], "b.example");
	config_free(&cfg);
}

Test(config, example_file_documents_every_key)
{
	char *ex = test_read_source("etc/mail.conf.example");
	char *doc = test_read_source("docs/config.md");
	const char *name, *def;

	for (size_t i = 0; (name = config_key(i, &def)) != NULL; i++) {
		char line[256];
		if (def)
			snprintf(line, sizeof(line), "\n#%s =%s%s\n", name, def[0] ? " " : "", def);
		else
			snprintf(line, sizeof(line), "\n#%s = ", name);
		cr_expect_not_null(strstr(ex, line), "mail.conf.example lacks '%s'", line + 1);
		snprintf(line, sizeof(line), "| `%s` |", name);
		cr_expect_not_null(strstr(doc, line), "docs/config.md lacks '%s'", line);
	}

	/* Uncommented, every "#key = value" line of the example is a valid configuration. */
	static char text[64 * 1024];
	size_t n = 0;
	for (const char *p = ex; *p;) {
		const char *nl = strchr(p, '\n');
		size_t l = nl ? (size_t)(nl - p) : strlen(p);
		if (l > 1 && p[0] == '#' && p[1] >= 'a' && p[1] <= 'z' && memchr(p, '=', l)) {
			cr_assert_lt(n + l, sizeof(text));
			memcpy(text + n, p + 1, l - 1);
			n += l - 1;
			text[n++] = '\n';
		}
		p += l + (nl ? 1 : 0);
	}
	text[n] = '\0';
	struct config cfg;
	cr_expect_eq(test_parse(&cfg, text), 0, "example: %s", test_err);
	config_free(&cfg);
	free(ex);
	free(doc);
}

/* Every value type of the key table (and every per-key syntax): a good value, then a bad one
 * with its exact message. */
Test(config, every_type_good_and_bad)
{
	static const struct {
		const char *good, *bad, *want;
	} cases[] = {
		/* string: one word; hostname and domains as DNS names */
		{ "run_user = nobody\n", "run_user = a b\n",
		  "t.conf:1: run_user: expected one value, got 2" },
		{ "hostname = MX.example.org.\n", "hostname = mx_1.example\n",
		  "t.conf:1: hostname: 'mx_1.example': invalid character in domain name" },
		{ "domains = a.example\n", "domains = a.example b_c.example\n",
		  "t.conf:1: domains: 'b_c.example': invalid character in domain name" },
		/* path */
		{ "aliases_file = /etc/my aliases, v2\n", "users_file =\n",
		  "t.conf:1: users_file: empty value" },
		/* chars */
		{ "recipient_delimiter = -+\n", "recipient_delimiter = + -\n",
		  "t.conf:1: recipient_delimiter: expected one word of characters, as in \"+\" or "
		  "\"+-\"" },
		{ "recipient_delimiter = ++++++++++++++++\n",
		  "recipient_delimiter = +++++++++++++++++\n",
		  "t.conf:1: recipient_delimiter: '+++++++++++++++++': at most 16 characters" },
		/* bool */
		{ "imap_plaintext_auth = On\n", "imap_plaintext_auth = maybe\n",
		  "t.conf:1: imap_plaintext_auth: 'maybe': expected yes or no" },
		{ "submission_sender_check = FALSE\n", "submission_sender_check = 2\n",
		  "t.conf:1: submission_sender_check: '2': expected yes or no" },
		/* milter action */
		{ "milter_default_action = accept\n", "milter_default_action = Accept\n",
		  "t.conf:1: milter_default_action: 'Accept': expected tempfail, reject or "
		  "accept" },
		/* port */
		{ "relay_port = 65535\n", "relay_port = 65536\n",
		  "t.conf:1: relay_port: '65536': bad port (use 1-65535)" },
		/* count */
		{ "auth_block_failures = 1000\n", "auth_block_failures = 1001\n",
		  "t.conf:1: auth_block_failures: '1001': must be between 1 and 1000" },
		/* size */
		{ "max_message_size = 1G\n", "max_message_size = 1T\n",
		  "t.conf:1: max_message_size: '1T': unknown size suffix (use k, M or G)" },
		/* duration, and a list of them */
		{ "relay_idle_timeout = 1h\n", "relay_idle_timeout = 61m\n",
		  "t.conf:1: relay_idle_timeout: '61m': must be between 0s and 1h" },
		{ "retry_schedule = 1m\n", "retry_schedule = 1m 0\n",
		  "t.conf:1: retry_schedule: '0': must be between 1s and 3650d" },
		/* milliseconds */
		{ "smtp_greeting_delay = 5m\n", "smtp_greeting_delay = 5d\n",
		  "t.conf:1: smtp_greeting_delay: '5d': unknown suffix (use ms, s or m)" },
		/* addresses: listeners, resolvers, the smarthost */
		{ "imaps_listen = [::1]:993\n", "imaps_listen = [::1]993\n",
		  "t.conf:1: imaps_listen: '[::1]993': unexpected text after ']'" },
		{ "dns_servers = [::1]\n", "dns_servers = [::1]:0\n",
		  "t.conf:1: dns_servers: '[::1]:0': bad port (use 1-65535)" },
		{ "smarthost = [2001:db8::25]\n", "smarthost = relay.example:25:26\n",
		  "t.conf:1: smarthost: 'relay.example:25:26': an IPv6 address needs brackets, as "
		  "in [::1]:25" },
		/* CIDR */
		{ "relay_networks = 192.0.2.0/24\n", "relay_networks = 192.0.2.0/24/1\n",
		  "t.conf:1: relay_networks: '192.0.2.0/24/1': bad prefix length (use 0-32)" },
		/* milters */
		{ "local_milters = unix:/run/m\n", "local_milters = unix:/run/m inet:1.2.3.4\n",
		  "t.conf:1: local_milters: 'inet:1.2.3.4': missing port (use HOST:PORT)" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		test_expect_ok(cases[i].good);
		test_expect_error(cases[i].bad, cases[i].want);
	}

	/* Length limits: a word of 255 bytes, a path of 4095. */
	char text[5000], want[200];
	snprintf(text, sizeof(text), "run_user = %0255d\n", 0);
	test_expect_ok(text);
	snprintf(text, sizeof(text), "run_user = %0256d\n", 0);
	snprintf(want, sizeof(want), "t.conf:1: run_user: '%064d...': too long", 0);
	test_expect_error(text, want);
	snprintf(text, sizeof(text), "state_dir = /%04094d\n", 0);
	test_expect_ok(text);
	snprintf(text, sizeof(text), "state_dir = /%04095d\n", 0);
	test_expect_error(text, "t.conf:1: state_dir: path too long");
}

/* Every list-valued key goes through the one list parser: words split at blanks, commas or
 * both; one bad word names itself and leaves the old list. */
Test(config, lists_split_at_blanks_and_commas)
{
	struct config cfg;

	cr_assert_eq(test_parse(&cfg, "domains = a.example,b.example c.example\n"
				      "smtp_listen = 127.0.0.1:25,[::1]:25 , 127.0.0.2:25\n"
				      "relay_networks = 10.0.0.0/8,::1\t192.0.2.1\n"
				      "milters = unix:/a,unix:/b unix:/c\n"
				      "submission_milters = ,unix:/d,\n"
				      "dns_servers = 192.0.2.53,[::1] 192.0.2.54:5353\n"
				      "retry_schedule = 1m,2m 3m\n"),
		     0, "%s", test_err);
	cr_assert_eq(cfg.domains.n, 3);
	cr_expect_str_eq(cfg.domains.items[2], "c.example");
	cr_assert_eq(cfg.smtp_listen.n, 3);
	test_expect_hostport(&cfg.smtp_listen.items[1], "::1", 25);
	cr_assert_eq(cfg.n_relay_networks, 3);
	cr_expect_eq(cfg.relay_networks[1].family, AF_INET6);
	cr_assert_eq(cfg.milters.n, 3);
	cr_expect_str_eq(cfg.milters.items[2], "unix:/c");
	cr_assert_eq(cfg.submission_milters.n, 1);
	cr_assert_eq(cfg.dns_servers.n, 3);
	test_expect_hostport(&cfg.dns_servers.items[2], "192.0.2.54", 5353);
	cr_assert_eq(cfg.n_retry_schedule, 3);
	cr_expect_eq(cfg.retry_schedule[2], 180);

	/* Over the same cfg: a bad word fails the key and keeps the old value, list or not. */
	static const char *const bad[] = {
		"smtp_listen = 127.0.0.1:1, 127.0.0.1\n",
		"relay_networks = 10.0.0.0/8 nonsense\n",
		"milters = unix:/x, tcp:y\n",
		"dns_servers = 192.0.2.1 ns.example\n",
		"retry_schedule = 1m 1y\n",
		"relay_port = 0\n",
		"smarthost = [x\n",
		"imap_plaintext_auth = perhaps\n",
		"run_user = a b\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(config_parse(&cfg, "u.conf", bad[i], strlen(bad[i]), test_err,
					  sizeof(test_err)),
			     -1, "accepted: %s", bad[i]);
	cr_expect_eq(cfg.smtp_listen.n, 3);
	cr_expect_eq(cfg.n_relay_networks, 3);
	cr_expect_eq(cfg.milters.n, 3);
	cr_expect_eq(cfg.dns_servers.n, 3);
	cr_expect_eq(cfg.n_retry_schedule, 3);
	cr_expect_eq(cfg.relay_port, 25);
	cr_expect_eq(cfg.smarthost.host[0], '\0');
	cr_expect_not(cfg.imap_plaintext_auth);
	cr_expect_str_eq(cfg.run_user, "mail");
	config_free(&cfg);
}

/* The value parsers behind the keys give the reasons the file:line messages carry. */
Test(config, value_parsers)
{
	struct config_hostport hp;
	struct config_cidr c;
	const char *e;
	uint64_t v;
	uint16_t port;
	char name[] = "MX.Example.ORG.";

	cr_expect_eq(config_value_count("42", &v, &e), 0);
	cr_expect_eq(v, 42);
	cr_expect_eq(config_value_count("42k", &v, &e), -1);
	cr_expect_str_eq(e, "not a number");
	cr_expect_eq(config_value_size("2k", &v, &e), 0);
	cr_expect_eq(v, 2048);
	cr_expect_eq(config_value_duration("2ms", &v, &e), -1);
	cr_expect_str_eq(e, "sub-second durations are not supported");
	cr_expect_eq(config_value_millis("2s", &v, &e), 0);
	cr_expect_eq(v, 2000);
	cr_expect_eq(config_value_port("-1", &port, &e), -1);
	cr_expect_str_eq(e, "bad port (use 1-65535)");
	cr_expect_eq(config_value_domain(name, &e), 0);
	cr_expect_str_eq(name, "mx.example.org");
	cr_expect_eq(config_value_hostport("[::1]", 53, true, &hp, &e), 0);
	test_expect_hostport(&hp, "::1", 53);
	cr_expect_eq(config_value_hostport("ns.example", 53, true, &hp, &e), -1);
	cr_expect_str_eq(e, "not an IP address");
	cr_expect_eq(config_value_cidr("10.1.2.3/8", &c, &e), 0);
	cr_expect_eq(c.prefix, 8);
	cr_expect_eq(c.addr[1], 0);
	cr_expect_eq(config_value_cidr("10.1.2.3/40", &c, &e), -1);
	cr_expect_str_eq(e, "bad prefix length (use 0-32)");
}
