/* tests/sim/main.c: sailthru-sim's command line, start-up and shutdown. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <microhttpd.h>

#include "log.h"
#include "sim.h"

static void
usage(FILE *f)
{
	fprintf(f,
"usage: sailthru-sim --listen HOST:PORT --port-file F --key K --secret S\n"
"         [--seed seed.json] [--job-delay-ms N] [--url-ttl-s N]\n"
"         [--rate-limit N] [--rate METHOD:ENDPOINT=N]... [--rate-window-s N]\n"
"         [--tls-cert F --tls-key F]\n"
"         [--state-out F] [--export-file LIST=PATH]... [--log-requests]\n"
"\n"
"A Sailthru API simulator on a loopback address (see tests/sim/README.md).\n"
"  --listen HOST:PORT    loopback only; port 0 picks a free port\n"
"  --port-file F         the bound port is written here (atomically)\n"
"  --key K --secret S    the API key and secret every call is signed with\n"
"  --seed F              initial lists and users (JSON)\n"
"  --job-delay-ms N      jobs stay pending this long (default 300)\n"
"  --url-ttl-s N         export URLs expire after this (default 7200)\n"
"  --rate-limit N        calls per endpoint+method per window (default 1000)\n"
"  --rate M:E=N          the limit of one endpoint+method, e.g. POST:user=300\n"
"  --rate-window-s N     the rate-limit window (default 60)\n"
"  --tls-cert/--tls-key  serve HTTPS with this PEM certificate and key\n"
"  --state-out F         dump the state as JSON here on SIGTERM/SIGINT\n"
"  --export-file L=P     serve file P as the export of list L\n"
"  --log-requests        one log line per request\n");
}

static long
num_arg(const char *name, const char *s, long min)
{
	char	*end;
	long	 v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end != '\0' || v < min)
		fatalx(64, "%s wants a number >= %ld, got %s", name, min, s);
	return v;
}

/* --rate METHOD:ENDPOINT=N, e.g. POST:user=300 (Sailthru's published ceiling). */
static void
rate_arg(struct sim_opts *o, const char *s)
{
	char	 m[8], e[16];
	int	 n = 0;
	long	 v;

	if (o->nrates == sizeof(o->rates) / sizeof(o->rates[0]))
		fatalx(64, "too many --rate");
	if (sscanf(s, "%7[A-Z]:%15[a-z]=%ld%n", m, e, &v, &n) != 3 ||
	    s[n] != '\0' || v < 1 ||
	    (strcmp(m, "GET") && strcmp(m, "POST") && strcmp(m, "DELETE")) ||
	    (strcmp(e, "user") && strcmp(e, "list") && strcmp(e, "job")))
		fatalx(64, "--rate wants GET|POST|DELETE:user|list|job=N (N >= 1), got %s", s);
	snprintf(o->rates[o->nrates].key, sizeof(o->rates[0].key), "%s %s", m, e);
	o->rates[o->nrates++].limit = v;
}

static void
write_port_file(const char *path, unsigned port)
{
	char	 tmp[4096];
	FILE	*f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((f = fopen(tmp, "w")) == NULL)
		fatal(73, "cannot create port file path=%s", tmp);
	fprintf(f, "%u\n", port);
	if (fflush(f) == EOF || fsync(fileno(f)) == -1 || fclose(f) == EOF)
		fatal(74, "cannot write port file path=%s", tmp);
	/* Readers poll for the file: rename makes it appear complete. */
	if (rename(tmp, path) == -1)
		fatal(74, "cannot rename port file path=%s", path);
}

static void
state_out(const char *path)
{
	char	 tmp[4096];
	json_t	*st;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	pthread_mutex_lock(&sim.lock);
	sim_jobs_tick();
	st = sim_state_json();
	pthread_mutex_unlock(&sim.lock);
	if (json_dump_file(st, tmp, JSON_INDENT(1)) == -1 || rename(tmp, path) == -1)
		log_warn("cannot write state path=%s", path);
	json_decref(st);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "port-file", required_argument, NULL, 'p' },
		{ "key", required_argument, NULL, 'k' },
		{ "secret", required_argument, NULL, 's' },
		{ "seed", required_argument, NULL, 'S' },
		{ "job-delay-ms", required_argument, NULL, 'd' },
		{ "url-ttl-s", required_argument, NULL, 't' },
		{ "rate-limit", required_argument, NULL, 'r' },
		{ "rate-window-s", required_argument, NULL, 'w' },
		{ "rate", required_argument, NULL, 'R' },
		{ "tls-cert", required_argument, NULL, 'C' },
		{ "tls-key", required_argument, NULL, 'K' },
		{ "state-out", required_argument, NULL, 'o' },
		{ "export-file", required_argument, NULL, 'e' },
		{ "log-requests", no_argument, NULL, 'L' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sim_opts		 o;
	struct MHD_Daemon	*d;
	const union MHD_DaemonInfo *info;
	sigset_t		 set;
	char			 err[512];
	int			 ch, sig;

	log_init("sim", LOG_INFO);
	memset(&o, 0, sizeof(o));
	o.job_delay_ms = 300;
	o.url_ttl_s = 7200;
	o.rate_limit = 1000;
	o.rate_window_s = 60;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'l': o.listen = optarg; break;
		case 'p': o.port_file = optarg; break;
		case 'k': o.key = optarg; break;
		case 's': o.secret = optarg; break;
		case 'S': o.seed = optarg; break;
		case 'd': o.job_delay_ms = num_arg("--job-delay-ms", optarg, 0); break;
		case 't': o.url_ttl_s = num_arg("--url-ttl-s", optarg, 0); break;
		case 'r': o.rate_limit = num_arg("--rate-limit", optarg, 1); break;
		case 'w': o.rate_window_s = num_arg("--rate-window-s", optarg, 1); break;
		case 'R': rate_arg(&o, optarg); break;
		case 'C': o.tls_cert = optarg; break;
		case 'K': o.tls_key = optarg; break;
		case 'o': o.state_out = optarg; break;
		case 'e':
			if (o.nexport_files == sizeof(o.export_files) / sizeof(o.export_files[0]))
				fatalx(64, "too many --export-file");
			o.export_files[o.nexport_files++] = optarg;
			break;
		case 'L': o.log_requests = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 64;
		}
	}
	if (optind != argc || !o.listen || !o.port_file || !o.key || !o.secret) {
		usage(stderr);
		return 64;
	}

	/* Only the main thread takes the stop signals, via sigwait. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	sim_init(&o);
	if (o.seed && sim_seed_load(o.seed, err, sizeof(err)) == -1) {
		sim_clear();
		fatalx(65, "bad seed: %s", err);
	}
	for (size_t i = 0; i < sim.nexport_files; i++)
		if (sim_list_find(sim.export_files[i][0]) < 0)
			sim_list_add(sim.export_files[i][0], 0);
	if ((d = sim_http_start(err, sizeof(err))) == NULL) {
		sim_clear();
		fatalx(strncmp(err, "--", 2) == 0 ? 64 : 69, "%s", err);
	}
	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	write_port_file(o.port_file, info->port);
	log_info("listening url=%s users=%zu lists=%zu", sim.base_url, sim.nusers,
	    sim.nlists);

	if (sigwait(&set, &sig) != 0)
		sig = SIGTERM;
	log_info("stopping signal=%d", sig);
	sim_http_stop(&d);
	sim_update_stop_all();
	if (o.state_out)
		state_out(o.state_out);
	sim_clear();
	return 0;
}
