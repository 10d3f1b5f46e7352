/*
 * paced_sender.c - one MP3 file replayed in real time to many mounts, as many encoders would.
 *
 * The "many mounts" bench scenario needs 200 live sources; 200 ffmpeg processes would cost the
 * machine more than the servers under test, so this one process feeds them all.  It reads an
 * MP3 file once (the bench makes it with ffmpeg: CBR 128 kbit/s, ~30 s), indexes its frames,
 * connects one source per mount (PUT with Expect: 100-continue as ffmpeg does, or the legacy
 * SOURCE method), then writes every mount the frames that are due, looping the file.
 *
 * Pacing: mount i is due floor((now - t0 - offset_i) * sample_rate / samples_per_frame) + 1
 * frames at time now (CLOCK_MONOTONIC, integer arithmetic), so there is no drift however long
 * it runs; offset_i = i * frame_time / M spreads the mounts' writes over one frame time instead
 * of M writes at the same instant.  With --frames-per-write 1 (the default) each mount gets one
 * write per frame (26 ms at 44.1 kHz), the cadence of `ffmpeg -re`.  A write that the socket
 * cannot take whole is resumed at the next tick from the byte where it stopped, so a slow
 * server sees a source that falls behind (reported as max_behind_frames), never a broken frame.
 *
 * Sources connect one after another (each waits for the server's answer): a server checks the
 * first source password with its password hash and answers the next ones from its cache, and
 * TinyIce allows two password checks per address at a time ("busy" past that, retried here).
 *
 * Bounded: stops after --duration-s (at most one day) or on SIGTERM/SIGINT, then closes every
 * source and prints one JSON object on stdout.
 *
 * Build: gcc -O2 -Wall -Wextra -o /tmp/paced_sender bench/paced_sender.c
 * Usage: paced_sender --port P --file f.mp3 --mounts M --duration-s D
 *          [--host 127.0.0.1] [--prefix /m] [--user source] [--password PW]
 *          [--method PUT|SOURCE] [--tick-ms 2] [--frames-per-write 1]
 *   Mount i is <prefix><i>, i = 0 .. M-1 (the load generator's --path /m --mounts M).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define NS_PER_S 1000000000LL
#define NS_PER_MS 1000000LL
#define MAX_MOUNTS 10000
#define MAX_FILE_BYTES (64 * 1024 * 1024)
#define CONNECT_TRIES 20  /* a "busy" or refused source is tried again, 500 ms apart */
#define LATE_NS (10 * NS_PER_MS) /* a tick this late is counted in late_ticks */

typedef struct {
    int fd;            /* -1: not connected or dropped */
    uint64_t sent;     /* whole frames sent, counted over the looped stream */
    uint32_t partial;  /* bytes of frame `sent` already written */
    int64_t offset_ns; /* this mount's clock starts this long after t0 */
} mount_t;

static const char *o_host = "127.0.0.1";
static int o_port = 8000;
static const char *o_prefix = "/m";
static long o_mounts = 1;
static const char *o_file = NULL;
static double o_duration = 0;
static const char *o_user = "source";
static const char *o_password = "hackme";
static const char *o_method = "PUT";
static long o_tick_ms = 2;
static long o_fpw = 1;

static volatile sig_atomic_t g_stop = 0;
static void on_signal(int sig) {
    (void)sig;
    g_stop = 1;
}

static int64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

static double cpu_now(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* ---------------- the file's frames ---------------- */
static const uint16_t br_v1_l3[16] = {0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 0};
static const uint16_t br_v2_l3[16] = {0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, 0};
static const uint32_t sr_tab[4][3] = {{11025, 12000, 8000}, {0, 0, 0}, {22050, 24000, 16000}, {44100, 48000, 32000}};

/* Length of the Layer III frame whose header is h (0 if h is no such header); sets *sr, *spf. */
static uint32_t frame_len(uint32_t h, uint32_t *sr, uint32_t *spf, uint32_t *kbps) {
    if ((h & 0xFFE00000u) != 0xFFE00000u) return 0;
    uint32_t ver = (h >> 19) & 3, layer = (h >> 17) & 3, bri = (h >> 12) & 15;
    uint32_t sri = (h >> 10) & 3, pad = (h >> 9) & 1;
    if (ver == 1 || layer != 1 || bri == 0 || bri == 15 || sri == 3) return 0;
    *sr = sr_tab[ver][sri];
    if (ver == 3) {
        *spf = 1152;
        *kbps = br_v1_l3[bri];
        return 144000u * br_v1_l3[bri] / *sr + pad;
    }
    *spf = 576;
    *kbps = br_v2_l3[bri];
    return 72000u * br_v2_l3[bri] / *sr + pad;
}

static uint8_t *g_data;    /* the whole file */
static uint32_t *g_off;    /* frame k spans g_off[k] .. g_off[k+1] */
static uint64_t g_nframes; /* frames per loop of the file */
static uint32_t g_sr, g_spf, g_kbps;

/* Indexes the file's frames: skips an ID3v2 tag and a Xing/Info frame (a header frame that
 * would repeat at every loop), stops at the first byte that is not a frame (an ID3v1 tag). */
static int load_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return 0;
    }
    g_data = malloc(MAX_FILE_BYTES);
    size_t n = g_data ? fread(g_data, 1, MAX_FILE_BYTES, f) : 0;
    fclose(f);
    if (n < 4) {
        fprintf(stderr, "%s: empty or unreadable\n", path);
        return 0;
    }
    size_t pos = 0;
    if (n >= 10 && memcmp(g_data, "ID3", 3) == 0) {
        pos = 10 + (((size_t)g_data[6] & 0x7f) << 21 | ((size_t)g_data[7] & 0x7f) << 14 |
                    ((size_t)g_data[8] & 0x7f) << 7 | ((size_t)g_data[9] & 0x7f));
        if (g_data[5] & 0x10) pos += 10;
    }
    g_off = malloc((n / 24 + 2) * sizeof *g_off);
    if (!g_off) return 0;
    uint64_t k = 0;
    int first = 1;
    while (pos + 4 <= n) {
        uint32_t h = (uint32_t)g_data[pos] << 24 | (uint32_t)g_data[pos + 1] << 16 |
                     (uint32_t)g_data[pos + 2] << 8 | g_data[pos + 3];
        uint32_t sr, spf, kbps;
        uint32_t len = frame_len(h, &sr, &spf, &kbps);
        if (!len || pos + len > n || (k > 0 && (sr != g_sr || spf != g_spf))) break;
        if (first) {
            first = 0;
            /* the Xing/Info tag sits within the first 40 bytes after the header */
            size_t end = pos + (len < 44 ? len : 44);
            if (memmem(g_data + pos + 4, end - pos - 4, "Xing", 4) ||
                memmem(g_data + pos + 4, end - pos - 4, "Info", 4)) {
                pos += len;
                continue;
            }
        }
        g_sr = sr;
        g_spf = spf;
        g_kbps = kbps;
        g_off[k++] = (uint32_t)pos;
        pos += len;
    }
    if (k == 0) {
        fprintf(stderr, "%s: no MPEG audio Layer III frames\n", path);
        return 0;
    }
    g_off[k] = (uint32_t)pos;
    g_nframes = k;
    return 1;
}

/* Frame index within one loop that holds byte `pos` (g_off[0] <= pos < g_off[n]). */
static uint64_t frame_at(uint32_t pos) {
    uint64_t lo = 0, hi = g_nframes; /* g_off[lo] <= pos < g_off[hi] */
    while (hi - lo > 1) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (g_off[mid] <= pos) lo = mid;
        else hi = mid;
    }
    return lo;
}

/* ---------------- connecting the sources ---------------- */
static void base64(const char *in, char *out) {
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = strlen(in), o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)(uint8_t)in[i] << 16;
        if (i + 1 < n) v |= (uint32_t)(uint8_t)in[i + 1] << 8;
        if (i + 2 < n) v |= (uint8_t)in[i + 2];
        out[o++] = t[(v >> 18) & 63];
        out[o++] = t[(v >> 12) & 63];
        out[o++] = i + 1 < n ? t[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? t[v & 63] : '=';
    }
    out[o] = 0;
}

static struct sockaddr_storage g_addr;
static socklen_t g_addrlen;
static char g_first_error[256];

static void note_error(const char *fmt, long mount, const char *what) {
    if (!g_first_error[0]) snprintf(g_first_error, sizeof g_first_error, fmt, mount, what);
}

/* One attempt: 1 = streaming, 0 = refused for now (try again), -1 = give up on this mount. */
static int connect_once(long i, int *out_fd) {
    int fd = socket(g_addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&g_addr, g_addrlen) < 0) {
        note_error("mount %ld: connect: %.160s", i, strerror(errno));
        close(fd);
        return 0;
    }
    char cred[512], auth[700], req[2048];
    snprintf(cred, sizeof cred, "%s:%s", o_user, o_password);
    base64(cred, auth);
    int put = strcmp(o_method, "PUT") == 0;
    int len = snprintf(req, sizeof req,
                       "%s %s%ld HTTP/%s\r\nHost: %s:%d\r\nAuthorization: Basic %s\r\n"
                       "User-Agent: tinyice-paced-sender\r\nContent-Type: audio/mpeg\r\n"
                       "Ice-Name: Bench %s%ld\r\nIce-Public: 0\r\nIce-Bitrate: %u\r\n%s\r\n",
                       o_method, o_prefix, i, put ? "1.1" : "1.0", o_host, o_port, auth, o_prefix,
                       i, g_kbps, put ? "Expect: 100-continue\r\n" : "");
    if (len <= 0 || (size_t)len >= sizeof req || send(fd, req, (size_t)len, MSG_NOSIGNAL) != len) {
        note_error("mount %ld: %.160s", i, "request not sent");
        close(fd);
        return -1;
    }
    char head[4096];
    size_t have = 0;
    while (have < sizeof head - 1) {
        ssize_t r = recv(fd, head + have, sizeof head - 1 - have, 0);
        if (r <= 0) break;
        have += (size_t)r;
        head[have] = 0;
        if (strstr(head, "\r\n\r\n")) break;
    }
    head[have] = 0;
    /* "HTTP/1.1 100 Continue" (then 200 OK), or "HTTP/1.0 200 OK" */
    const char *sp = strchr(head, ' ');
    if (!sp || (strncmp(sp + 1, "100", 3) != 0 && strncmp(sp + 1, "200", 3) != 0)) {
        char *eol = strpbrk(head, "\r\n");
        if (eol) *eol = 0;
        note_error("mount %ld: answered \"%.160s\"", i, have ? head : "nothing");
        close(fd);
        return 0;
    }
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    *out_fd = fd;
    return 1;
}

/* ---------------- main ---------------- */
static void usage(const char *argv0) {
    fprintf(stderr,
            "usage: %s --port P --file f.mp3 --mounts M --duration-s D [--host H] [--prefix /m]\n"
            "          [--user U] [--password PW] [--method PUT|SOURCE] [--tick-ms MS]\n"
            "          [--frames-per-write K]\n",
            argv0);
}

int main(int argc, char **argv) {
    static const struct option opts[] = {
        {"host", required_argument, 0, 'h'},     {"port", required_argument, 0, 'p'},
        {"prefix", required_argument, 0, 'P'},   {"mounts", required_argument, 0, 'm'},
        {"file", required_argument, 0, 'f'},     {"duration-s", required_argument, 0, 'd'},
        {"user", required_argument, 0, 'u'},     {"password", required_argument, 0, 'w'},
        {"method", required_argument, 0, 'M'},   {"tick-ms", required_argument, 0, 't'},
        {"frames-per-write", required_argument, 0, 'k'}, {0, 0, 0, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'h': o_host = optarg; break;
        case 'p': o_port = atoi(optarg); break;
        case 'P': o_prefix = optarg; break;
        case 'm': o_mounts = atol(optarg); break;
        case 'f': o_file = optarg; break;
        case 'd': o_duration = strtod(optarg, NULL); break;
        case 'u': o_user = optarg; break;
        case 'w': o_password = optarg; break;
        case 'M': o_method = optarg; break;
        case 't': o_tick_ms = atol(optarg); break;
        case 'k': o_fpw = atol(optarg); break;
        default: usage(argv[0]); return 2;
        }
    }
    if (!o_file || o_port <= 0 || o_port > 65535 || o_mounts < 1 || o_mounts > MAX_MOUNTS ||
        o_duration <= 0 || o_duration > 86400 || o_tick_ms < 1 || o_tick_ms > 100 || o_fpw < 1 ||
        o_fpw > 100 || (strcmp(o_method, "PUT") != 0 && strcmp(o_method, "SOURCE") != 0) ||
        strlen(o_user) + strlen(o_password) > 400 || strlen(o_prefix) > 200) {
        usage(argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (!load_file(o_file)) return 1;
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_socktype = SOCK_STREAM;
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", o_port);
    if (getaddrinfo(o_host, portstr, &hints, &ai) != 0 || !ai) {
        fprintf(stderr, "cannot resolve %s\n", o_host);
        return 1;
    }
    memcpy(&g_addr, ai->ai_addr, ai->ai_addrlen);
    g_addrlen = ai->ai_addrlen;
    freeaddrinfo(ai);

    int64_t t_begin = mono_ns();
    int64_t deadline = t_begin + (int64_t)(o_duration * (double)NS_PER_S);
    mount_t *m = calloc((size_t)o_mounts, sizeof *m);
    if (!m) return 1;
    long connected = 0, failed = 0, attempts = 0;
    for (long i = 0; i < o_mounts; i++) {
        m[i].fd = -1;
        for (int t = 0; t < CONNECT_TRIES && !g_stop && mono_ns() < deadline; t++) {
            attempts++;
            int r = connect_once(i, &m[i].fd);
            if (r != 0) break;
            struct timespec pause = {.tv_nsec = 500 * NS_PER_MS};
            nanosleep(&pause, NULL);
        }
        if (m[i].fd >= 0) connected++;
        else failed++;
    }
    int64_t connect_ms = (mono_ns() - t_begin) / NS_PER_MS;

    /* frame time in ns, as a fraction: spf * 1e9 / sr */
    const int64_t frame_num = (int64_t)g_spf * NS_PER_S;
    const int64_t frame_ns = frame_num / g_sr;
    for (long i = 0; i < o_mounts; i++) m[i].offset_ns = frame_ns * i / o_mounts;
    const uint32_t loop_bytes = g_off[g_nframes] - g_off[0];
    const int64_t tick_ns = o_tick_ms * NS_PER_MS;
    uint64_t writes = 0, short_writes = 0, bytes = 0, late_ticks = 0, max_behind = 0;
    int64_t max_late = 0;
    long dropped = 0;
    double cpu0 = cpu_now();
    int64_t t0 = mono_ns();
    int64_t next_tick = t0;
    while (!g_stop && connected > 0) {
        int64_t now = mono_ns();
        if (now >= deadline) break;
        for (long i = 0; i < o_mounts; i++) {
            mount_t *s = &m[i];
            if (s->fd < 0) continue;
            int64_t el = now - t0 - s->offset_ns;
            if (el < 0) continue;
            uint64_t due = (uint64_t)((el * (int64_t)g_sr) / frame_num) + 1;
            /* a partly written frame is finished at once; whole frames wait for K due */
            if (s->partial == 0 && due < s->sent + (uint64_t)o_fpw) continue;
            while (s->sent < due) {
                uint64_t loop = s->sent / g_nframes, k = s->sent % g_nframes;
                uint64_t last = due - loop * g_nframes; /* frames due in this pass of the file */
                if (last > g_nframes) last = g_nframes;
                uint32_t from = g_off[k] + s->partial, to = g_off[last];
                ssize_t w = send(s->fd, g_data + from, to - from, MSG_NOSIGNAL);
                writes++;
                if (w < 0) {
                    if (errno == EINTR) continue;
                    if (errno == EAGAIN || errno == EWOULDBLOCK) {
                        short_writes++;
                        break;
                    }
                    note_error("mount %ld: dropped: %.160s", i, strerror(errno));
                    close(s->fd);
                    s->fd = -1;
                    dropped++;
                    break;
                }
                bytes += (uint64_t)w;
                uint32_t pos = from + (uint32_t)w;
                if (pos >= g_off[g_nframes]) {
                    s->sent = (loop + 1) * g_nframes;
                    s->partial = 0;
                } else {
                    uint64_t j = frame_at(pos);
                    s->sent = loop * g_nframes + j;
                    s->partial = pos - g_off[j];
                }
                if ((uint32_t)w < to - from) {
                    short_writes++;
                    break;
                }
            }
            if (s->fd >= 0 && due > s->sent && due - s->sent > max_behind) max_behind = due - s->sent;
        }
        /* next tick on the fixed grid; ticks missed while busy are skipped, not made up */
        next_tick += tick_ns;
        now = mono_ns();
        if (now - next_tick > LATE_NS) {
            late_ticks++;
            if (now - next_tick > max_late) max_late = now - next_tick;
        }
        if (next_tick < now) next_tick += ((now - next_tick) / tick_ns + 1) * tick_ns;
        if (next_tick > deadline) next_tick = deadline;
        struct timespec ts = {.tv_sec = next_tick / NS_PER_S, .tv_nsec = next_tick % NS_PER_S};
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR && !g_stop) {
        }
    }
    int64_t t_end = mono_ns();
    double cpu = cpu_now() - cpu0;
    uint64_t frames = 0, frames_live = 0, expected = 0;
    long live = 0;
    for (long i = 0; i < o_mounts; i++) {
        frames += m[i].sent;
        if (m[i].fd >= 0) {
            live++;
            frames_live += m[i].sent;
            int64_t el = t_end - t0 - m[i].offset_ns;
            expected += el < 0 ? 0 : (uint64_t)((el * (int64_t)g_sr) / frame_num) + 1;
            close(m[i].fd);
        }
    }
    double elapsed = (double)(t_end - t0) / 1e9;
    char err[600] = "";
    for (size_t a = 0, b = 0; g_first_error[a] && b < sizeof err - 2; a++) {
        if (g_first_error[a] == '"' || g_first_error[a] == '\\') err[b++] = '\\';
        err[b++] = (uint8_t)g_first_error[a] < 0x20 ? ' ' : g_first_error[a];
        err[b] = 0;
    }
    printf("{\"mounts\":%ld,\"connected\":%ld,\"failed\":%ld,\"attempts\":%ld,\"connect_ms\":%lld,"
           "\"dropped\":%ld,\"live_at_end\":%ld,\"first_error\":\"%s\",\"sample_rate\":%u,"
           "\"frame_ms\":%.3f,\"kbps\":%u,\"file_frames\":%llu,\"file_bytes\":%u,"
           "\"elapsed_s\":%.3f,\"frames\":%llu,\"frames_live\":%llu,\"frames_due_live\":%llu,"
           "\"bytes\":%llu,"
           "\"writes\":%llu,\"short_writes\":%llu,\"max_behind_frames\":%llu,\"late_ticks\":%llu,"
           "\"max_late_ms\":%.1f,\"cpu_s\":%.3f}\n",
           o_mounts, connected, failed, attempts, (long long)connect_ms, dropped, live, err, g_sr,
           (double)frame_ns / 1e6, g_kbps, (unsigned long long)g_nframes, loop_bytes, elapsed,
           (unsigned long long)frames, (unsigned long long)frames_live, (unsigned long long)expected, (unsigned long long)bytes,
           (unsigned long long)writes, (unsigned long long)short_writes,
           (unsigned long long)max_behind, (unsigned long long)late_ticks,
           (double)max_late / 1e6, cpu);
    fflush(stdout);
    free(m);
    free(g_off);
    free(g_data);
    return 0;
}
