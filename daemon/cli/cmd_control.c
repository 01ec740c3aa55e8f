/*
 * cmd_control.c: `cangate status`, `cangate mark`, `cangate session`: the
 * client side of the control socket (protocol in control.h). Exit codes:
 * 0 done, 1 the daemon refused the request, 2 usage error or no daemon.
 */
#include <errno.h>
#include <stdbool.h>
#include <getopt.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>

#include "daemon/cli/client.h"
#include "daemon/cli/commands.h"
#include "daemon/core/bundle.h"
#include "daemon/core/control_proto.h"

#define CLIENT_REPLY_MAX (4u << 20) /* bytes: status of a large gateway */
/* The daemon answers every request from its loop at once: a reply this late
 * means it is stopped or wedged, and a script must not hang on it. */
#define CLIENT_REPLY_TIMEOUT_S 10

const char *client_default_path(void)
{
	const char *env = getenv("CANGATE_CONTROL");

	return env && *env ? env : CONTROL_DEFAULT_PATH;
}

/* Why connecting to path failed, in one line: the three cases an operator
 * fixes differently are told apart. */
static void client_connect_error(const char *path, int err)
{
	struct stat st;

	if (stat(path, &st) < 0 && errno == ENOENT) {
		fprintf(stderr,
			"cangate: no such socket: %s (is cangated running?)\n",
			path);
	} else if (err == EACCES || err == EPERM) {
		struct passwd *pw = NULL;
		struct group *gr = NULL;

		if (stat(path, &st) == 0) {
			pw = getpwuid(st.st_uid);
			gr = getgrgid(st.st_gid);
		}
		if (pw && gr && (st.st_mode & S_IWGRP))
			fprintf(stderr,
				"cangate: permission denied on %s (owner %s, "
				"group %s, mode %04o: are you in group %s?)\n",
				path, pw->pw_name, gr->gr_name,
				(unsigned)(st.st_mode & 07777), gr->gr_name);
		else if (pw && gr)
			fprintf(stderr,
				"cangate: permission denied on %s (owner %s, "
				"group %s, mode %04o: only %s may connect)\n",
				path, pw->pw_name, gr->gr_name,
				(unsigned)(st.st_mode & 07777), pw->pw_name);
		else
			fprintf(stderr,
				"cangate: permission denied on %s (or on a "
				"directory above it)\n",
				path);
	} else if (stat(path, &st) == 0 && !S_ISSOCK(st.st_mode)) {
		fprintf(stderr, "cangate: %s is not a socket\n", path);
	} else if (err == ECONNREFUSED) {
		fprintf(stderr,
			"cangate: no daemon is listening on %s (a stale "
			"socket: is cangated running?)\n",
			path);
	} else {
		fprintf(stderr, "cangate: cannot connect to %s: %s\n", path,
			strerror(err));
	}
}

int client_connect(const char *prog, const char *path)
{
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "cangate %s: socket path too long: %s\n", prog,
			path);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fprintf(stderr, "cangate %s: socket: %s\n", prog,
			strerror(errno));
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
		return fd;
	client_connect_error(path, errno);
	close(fd);
	return -1;
}

static void client_no_reply(const char *prog, const char *path)
{
	fprintf(stderr,
		"cangate %s: no reply from %s within %d s (is cangated "
		"stopped or overloaded?)\n",
		prog, path, CLIENT_REPLY_TIMEOUT_S);
}

/* Send one request line, read one response line into a malloc'd string. */
char *client_request(const char *prog, const char *path,
			    const char *request)
{
	size_t len = strlen(request), off = 0, cap = 4096, n = 0;
	char *buf;
	struct timeval tmo = {.tv_sec = CLIENT_REPLY_TIMEOUT_S};
	int fd = client_connect(prog, path);

	if (fd < 0)
		return NULL;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tmo, sizeof(tmo)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tmo, sizeof(tmo)) < 0) {
		fprintf(stderr, "cangate %s: %s: %s\n", prog, path,
			strerror(errno));
		close(fd);
		return NULL;
	}
	while (off < len) {
		ssize_t w = send(fd, request + off, len - off, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				client_no_reply(prog, path);
			else
				fprintf(stderr,
					"cangate %s: sending to %s: %s\n",
					prog, path, strerror(errno));
			close(fd);
			return NULL;
		}
		off += (size_t)w;
	}
	buf = malloc(cap);
	if (!buf) {
		close(fd);
		return NULL;
	}
	for (;;) {
		ssize_t r;

		if (n + 1 >= cap) {
			char *nb;

			if (cap >= CLIENT_REPLY_MAX)
				break;
			nb = realloc(buf, cap * 2);
			if (!nb)
				break;
			buf = nb;
			cap *= 2;
		}
		r = recv(fd, buf + n, cap - n - 1, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			client_no_reply(prog, path);
			close(fd);
			free(buf);
			return NULL;
		}
		if (r <= 0)
			break;
		n += (size_t)r;
		if (memchr(buf + n - (size_t)r, '\n', (size_t)r))
			break;
	}
	close(fd);
	buf[n] = '\0';
	if (n == 0 || buf[n - 1] != '\n') {
		fprintf(stderr, "cangate %s: the daemon closed the connection "
				"without a complete reply\n",
			prog);
		free(buf);
		return NULL;
	}
	buf[n - 1] = '\0';
	return buf;
}

/* Minimal reader for the daemon's replies: the string value of a top-level
 * key, unescaped into a malloc'd string, or NULL. The daemon writes these
 * objects itself (json.c), so only the escapes it emits are handled. */
char *client_json_string(const char *json, const char *key)
{
	char pat[64];
	const char *p;
	char *out, *o;

	snprintf(pat, sizeof(pat), "{\"%s\":\"", key);
	if (strncmp(json, pat, strlen(pat)) != 0)
		return NULL;
	p = json + strlen(pat);
	out = o = malloc(strlen(p) + 1);
	if (!out)
		return NULL;
	for (; *p && *p != '"'; p++) {
		if (*p != '\\') {
			*o++ = *p;
			continue;
		}
		p++;
		switch (*p) {
		case 'n': *o++ = '\n'; break;
		case 't': *o++ = '\t'; break;
		case 'r': *o++ = '\r'; break;
		case 'b': *o++ = '\b'; break;
		case 'f': *o++ = '\f'; break;
		case 'u': {
			unsigned v = 0;

			if (sscanf(p + 1, "%4x", &v) != 1) {
				free(out);
				return NULL;
			}
			p += 4;
			if (v < 0x80) {
				*o++ = (char)v;
			} else if (v < 0x800) {
				*o++ = (char)(0xc0 | (v >> 6));
				*o++ = (char)(0x80 | (v & 0x3f));
			} else {
				*o++ = (char)(0xe0 | (v >> 12));
				*o++ = (char)(0x80 | ((v >> 6) & 0x3f));
				*o++ = (char)(0x80 | (v & 0x3f));
			}
			break;
		}
		case '\0':
			free(out);
			return NULL;
		default: *o++ = *p; break;
		}
	}
	*o = '\0';
	return out;
}

/* Print the reply; 0 for {"ok":...} or data, 1 for {"error":...}. */
static int client_report(const char *prog, const char *reply)
{
	char *err = client_json_string(reply, "error");

	if (err) {
		fprintf(stderr, "cangate %s: %s\n", prog, err);
		free(err);
		return 1;
	}
	return 0;
}

/* What an {"ok":true,...} reply of mark or session says, for people:
 *   mark recorded at 1764400004.272682 (after frames.log line 1029)
 *   bundle /var/lib/cangate/sessions/...
 *   verdicts: 20 PASS, 2 FAIL, 5 NOT_EXERCISED, 0 INCONCLUSIVE */
static void client_print_reply(const char *reply)
{
	static const char *const names[] = { "PASS", "FAIL", "NOT_EXERCISED",
					     "INCONCLUSIVE" };
	char err[128];
	struct bundle_json *j = bundle_json_parse(reply, strlen(reply), err,
						  sizeof(err));
	const struct bundle_json *t, *v;
	const char *bundle;
	uint64_t line;

	if (!j)
		return;
	t = bundle_json_get(j, "t");
	if (t && t->type == BJ_NUMBER &&
	    bundle_json_u64(j, "line", &line) == 0)
		printf("mark recorded at %s (after frames.log line %llu)\n",
		       t->str, (unsigned long long)line);
	bundle = bundle_json_str(j, "bundle");
	if (bundle)
		printf("bundle %s\n", bundle);
	v = bundle_json_get(j, "verdicts");
	if (v && v->type == BJ_OBJECT) {
		printf("verdicts:");
		for (size_t i = 0; i < 4; i++) {
			uint64_t n = 0;

			bundle_json_u64(v, names[i], &n);
			printf("%s %llu %s", i ? "," : "",
			       (unsigned long long)n, names[i]);
		}
		printf("\n");
	}
	bundle_json_free(j);
}

/* Send request, print the reply; the exit code. */
static int client_run(const char *prog, const char *path, const char *request)
{
	char *reply = client_request(prog, path, request);
	int rc;

	if (!reply)
		return 2;
	rc = client_report(prog, reply);
	if (rc == 0)
		client_print_reply(reply);
	free(reply);
	return rc;
}

/* A session start value as a "quoted" string (control.h grammar). Its
 * length, or -1 when it does not fit or holds control characters. */
int client_quote(const char *s, char *out, size_t size)
{
	size_t n = 0;

	if (size < 3)
		return -1;
	out[n++] = '"';
	for (; *s; s++) {
		if ((unsigned char)*s < 0x20)
			return -1;
		if (*s == '"' || *s == '\\') {
			if (n + 1 >= size)
				return -1;
			out[n++] = '\\';
		}
		if (n + 1 >= size)
			return -1;
		out[n++] = *s;
	}
	if (n + 2 > size)
		return -1;
	out[n++] = '"';
	out[n] = '\0';
	return (int)n;
}

static const struct option client_opts[] = {
	{"socket", required_argument, NULL, 's'},
	{"json", no_argument, NULL, 'j'},
	{"all", no_argument, NULL, 'a'},
	{"vin", required_argument, NULL, 'V'},
	{"procedure", required_argument, NULL, 'P'},
	{"operator", required_argument, NULL, 'O'},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

/* One daemon's status on stdout; the exit code. */
static int client_status(const char *path, bool json)
{
	char *reply, *text;
	int rc;

	reply = client_request("status", path,
			       json ? "status json\n" : "status\n");
	if (!reply)
		return 2;
	rc = client_report("status", reply);
	if (rc == 0 && json) {
		printf("%s\n", reply);
	} else if (rc == 0) {
		text = client_json_string(reply, "text");
		if (!text) {
			fprintf(stderr, "cangate status: unexpected reply\n");
			rc = 1;
		} else {
			fputs(text, stdout);
			free(text);
		}
	}
	free(reply);
	return rc;
}

/* status --all: every socket next to the default one (one daemon per
 * cangated@ instance). The worst exit code of them. */
static int client_status_all(bool json)
{
	char dir[256], pattern[300];
	const char *slash;
	glob_t g;
	int rc = 0;

	snprintf(dir, sizeof(dir), "%s", client_default_path());
	slash = strrchr(dir, '/');
	if (slash)
		dir[slash - dir] = '\0';
	else
		snprintf(dir, sizeof(dir), ".");
	snprintf(pattern, sizeof(pattern), "%s/*.sock", dir);
	if (glob(pattern, 0, NULL, &g) != 0) {
		fprintf(stderr, "cangate status: no control socket under %s\n",
			dir);
		return 2;
	}
	for (size_t i = 0; i < g.gl_pathc; i++) {
		int r;

		if (!json)
			printf("%s== %s\n", i ? "\n" : "", g.gl_pathv[i]);
		fflush(stdout);
		r = client_status(g.gl_pathv[i], json);
		if (r > rc)
			rc = r;
	}
	globfree(&g);
	return rc;
}

int cmd_status(int argc, char **argv)
{
	static const char usage[] =
		"usage: cangate status [-s SOCKET | --all] [--json]\n";
	const char *path = client_default_path();
	bool json = false, all = false, have_path = false;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "s:jah", client_opts, NULL)) !=
	       -1) {
		switch (c) {
		case 's':
			path = optarg;
			have_path = true;
			break;
		case 'j':
			json = true;
			break;
		case 'a':
			all = true;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (optind != argc || (all && have_path)) {
		fputs(usage, stderr);
		return 2;
	}
	return all ? client_status_all(json) : client_status(path, json);
}

int cmd_mark(int argc, char **argv)
{
	const char *path = client_default_path();
	char line[CONTROL_LINE_MAX];
	size_t len;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+s:h", client_opts, NULL)) != -1) {
		switch (c) {
		case 's':
			path = optarg;
			break;
		case 'h':
			printf("usage: cangate mark [-s SOCKET] TEXT\n");
			return 0;
		default:
			fprintf(stderr, "usage: cangate mark [-s SOCKET] TEXT\n");
			return 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "usage: cangate mark [-s SOCKET] TEXT\n");
		return 2;
	}
	len = (size_t)snprintf(line, sizeof(line), "mark");
	for (int i = optind; i < argc; i++) {
		for (const char *p = argv[i]; *p; p++) {
			if ((unsigned char)*p < 0x20) {
				fprintf(stderr, "cangate mark: control "
						"characters are not allowed "
						"in TEXT\n");
				return 2;
			}
		}
		len += (size_t)snprintf(line + len,
					len < sizeof(line) ? sizeof(line) - len
							   : 0,
					" %s", argv[i]);
	}
	if (len + 2 > sizeof(line)) {
		fprintf(stderr, "cangate mark: TEXT too long (at most %d "
				"bytes)\n",
			CONTROL_LINE_MAX - 8);
		return 2;
	}
	line[len++] = '\n';
	line[len] = '\0';
	return client_run("mark", path, line);
}

/* The daemon closes a stopped session in a worker (the loop keeps
 * forwarding); `session stop` returns once the bundle is sealed, so that a
 * script may verify it next. */
static int client_wait_closed(const char *path)
{
	for (int i = 0; i < 6000; i++) { /* 10 minutes */
		char *st = client_request("session", path, "status json\n");
		bool busy = st && strstr(st, "\"closing\":[\"");

		free(st);
		if (!st)
			return 2;
		if (!busy)
			return 0;
		usleep(100000);
	}
	fprintf(stderr, "cangate session: the bundle is still closing after "
			"10 minutes\n");
	return 1;
}

int cmd_session(int argc, char **argv)
{
	static const char usage[] =
		"usage: cangate session [-s SOCKET] start [--vin V "
		"--procedure P --operator O] | stop\n";
	const char *path = client_default_path();
	const char *vin = NULL, *proc = NULL, *op = NULL;
	char line[CONTROL_LINE_MAX], q[3 * CONTROL_META_MAX];
	size_t len;
	int c, rc;
	bool start;

	optind = 1;
	/* Options may come before or after start/stop. */
	while ((c = getopt_long(argc, argv, "s:h", client_opts, NULL)) != -1) {
		switch (c) {
		case 's':
			path = optarg;
			break;
		case 'V':
			vin = optarg;
			break;
		case 'P':
			proc = optarg;
			break;
		case 'O':
			op = optarg;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (optind != argc - 1 || (strcmp(argv[optind], "start") != 0 &&
				   strcmp(argv[optind], "stop") != 0)) {
		fputs(usage, stderr);
		return 2;
	}
	start = !strcmp(argv[optind], "start");
	if (!start && (vin || proc || op)) {
		fprintf(stderr, "cangate session: --vin, --procedure and "
				"--operator go with start\n");
		return 2;
	}
	len = (size_t)snprintf(line, sizeof(line), "session %s",
			       start ? "start" : "stop");
	{
		const char *keys[3] = {"vin", "procedure", "operator"};
		const char *vals[3] = {vin, proc, op};

		for (int i = 0; i < 3; i++) {
			if (!vals[i])
				continue;
			if (strlen(vals[i]) >= CONTROL_META_MAX ||
			    client_quote(vals[i], q, sizeof(q)) < 0) {
				fprintf(stderr,
					"cangate session: bad --%s (at most "
					"%d bytes, no control characters)\n",
					keys[i], CONTROL_META_MAX - 1);
				return 2;
			}
			len += (size_t)snprintf(line + len, sizeof(line) - len,
						" %s=%s", keys[i], q);
		}
	}
	snprintf(line + len, sizeof(line) - len, "\n");
	rc = client_run("session", path, line);
	if (rc == 0 && !start)
		rc = client_wait_closed(path);
	return rc;
}
