/*
 * loadgen.c - listener load generator for TinyIce / icecast2 benchmarks.
 *
 * Opens N HTTP listener connections to a streaming mount (epoll, non-blocking
 * sockets, T worker threads), paces them over a ramp, then measures what every
 * listener receives during a measurement window: TTFB, time to 64 KiB of
 * audio, 1-second stalls, per-listener bytes/s, drops, ICY metadata framing
 * and MP3 frame framing.  Prints one JSON object on stdout and exits 0.
 *
 * Build: gcc -O2 -Wall -Wextra -o /tmp/loadgen bench/loadgen.c -lpthread
 *   with TLS: gcc -O2 -Wall -Wextra -DLOADGEN_TLS -o /tmp/loadgen bench/loadgen.c \
 *             -lpthread -lssl -lcrypto            (needs libssl-dev)
 *
 * Usage:
 *   loadgen --host 127.0.0.1 --port P --path /live --n N --ramp-s R
 *           --warmup-s W --duration-s D [--icy] [--slow-frac F]
 *           [--slow-bps B] [--threads T] [--rcvbuf BYTES] [--user-agent S]
 *           [--batch-ms MS] [--tls [--sni NAME] [--ca FILE]]
 *           [--mounts M] [--hold-min-s A --hold-max-s B]
 *
 * Many mounts (--mounts M): --path is then a prefix and listener i asks for
 * <path><i mod M> (--path /m --mounts 200: /m0 ... /m199, 200 apart), so
 * the listeners spread evenly over M mounts fed by one paced sender.
 *
 * Churn (--hold-max-s B > 0): listener i leaves (closes its connection) a
 * fixed pseudo-random time in [A, B] s after its connect start, the same for
 * every run (a hash of i).  With a long ramp this is a stream of listeners
 * arriving at N/R per second and leaving after 5-60 s, as players do.  One
 * that leaves is counted in "left", not as a drop; one that has no head by
 * then counts as failed (no_head_at_end).  Checked every 100 ms.
 * TLS (--tls, OpenSSL, TLS 1.2+): after the TCP connect each listener does a
 * full handshake (no session resumption, as N distinct players would) on the
 * same epoll loop (non-blocking SSL_do_handshake, WANT_READ/WANT_WRITE switch
 * the epoll interest), then sends the request and reads the stream with
 * SSL_read (read-ahead on, so one read() usually brings a whole batch of
 * records).  --sni sets the server name sent (default: --host unless it is an
 * IP literal) and checked; --ca FILE turns certificate verification on
 * (against the SNI name, else the host's IP); without it nothing is verified.
 * "handshake_ms" is connect start -> handshake done (TLS) or -> TCP connect
 * done (plain); TTFB is still connect start -> first body/head byte.  The
 * plain path only pays one pointer test per read.
 *
 * Timeline (CLOCK_MONOTONIC, t0 = start): connection i starts at
 * t0 + i*R/N; warmup [R, R+W); measurement window [R+W, R+W+D); at R+W+D
 * everything is closed and the report printed.
 *
 * Reading strategy (the CPU cost of the load generator is dominated by
 * read() syscalls, ~5-10 us each on a small VM):
 *  - connecting listeners, listeners whose head is not complete and normal
 *    listeners that have not yet received 64 KiB of audio (and are younger
 *    than 3 s) sit in a level-triggered epoll set and are read as soon as
 *    data arrives, so TTFB and t64k are exact;
 *  - afterwards a normal listener moves to an edge-triggered "steady" set that
 *    is drained every --batch-ms (default 500, max 500; 0 = never move, read
 *    every arrival).  Data simply accumulates in the socket receive buffer
 *    between polls (8 KB per 500 ms at 128 kbit/s), so the server never sees
 *    back-pressure, but the load generator does ~2 reads/s per listener
 *    instead of one per server write.  Extra polls at the window start/end
 *    attribute bytes to the correct side of the window boundaries;
 *  - slow listeners (--slow-frac) use EPOLLONESHOT and a token bucket
 *    (refilled every 100 ms with slow-bps/10 bytes, capacity 2 refills); while
 *    out of tokens they are disarmed and re-armed by the refill tick.
 *
 * Output: see print_group()/main(); all times in ms, rates in audio bytes/s.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#ifdef LOADGEN_TLS
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#endif

#define NS_PER_S 1000000000LL
#define NS_PER_MS 1000000LL
#define READ_BUF_SIZE 65536
#define HEAD_INIT 1024
#define HEAD_MAX 16384
#define T64K_BYTES 65536
#define TICK_NS (100 * NS_PER_MS) /* slow-listener token refill period */
#define MAX_EVENTS 1024
#define STEADY_AFTER_NS (3 * NS_PER_S)
#define NONE_US UINT32_MAX

/* connection states */
enum { ST_IDLE = 0, ST_CONNECTING, ST_TLS, ST_HEAD, ST_BODY, ST_CLOSED };
/* failure reasons */
enum { FAIL_NONE = 0, FAIL_CONNECT, FAIL_STATUS, FAIL_CLOSED, FAIL_HEADBIG, FAIL_TIMEOUT, FAIL_PENDING, FAIL_TLS,
       FAIL_LEFT /* not a failure: a churn listener's hold time ran out (--hold-max-s) */ };
/* drop kinds */
enum { DROP_NONE = 0, DROP_BEFORE, DROP_IN };
/* ICY stripper states */
enum { ICY_OFF = 0, ICY_AUDIO, ICY_LEN, ICY_META, ICY_DEAD };
/* ICY metadata check flags */
#define MF_PREFIX_BAD 1
#define MF_PREV_QUOTE 2
#define MF_SEEN_END 4
#define MF_NONNUL_AFTER 8
/* MP3 walker states */
enum { MP3_OFF = 0, MP3_ID3CHK, MP3_ID3SKIP, MP3_SEARCH, MP3_CONFIRM, MP3_LOCKED };

typedef struct conn {
    int64_t t_start;     /* ns, monotonic: connect start */
    int64_t t_head;      /* ns: 200 head completed (0 = never) */
    uint64_t audio_bytes; /* body bytes excluding ICY metadata */
    uint64_t win_bytes;   /* audio bytes received inside the window */
    char *head;           /* head buffer, only while parsing the head */
#ifdef LOADGEN_TLS
    SSL *ssl;             /* NULL on the plain path */
#endif
    int fd;
    uint32_t hs_us;    /* TCP connect (plain) / TLS handshake done; NONE_US = not yet */
    uint32_t ttfb_us;  /* NONE_US = no byte yet */
    uint32_t t64k_us;  /* NONE_US = not reached */
    uint32_t metaint;
    uint32_t icy_left;  /* audio bytes until the next length byte */
    uint32_t mp3_left;  /* bytes to skip until the next expected header */
    uint32_t mp3_win;   /* sliding window / header accumulator */
    uint32_t mp3_errors;
    uint32_t stalls;
    uint64_t stall_mask; /* window seconds 0..63 that got no byte (for --stall-dump) */
    uint16_t lport;      /* our local port: the server's peer port for this listener */
    uint32_t tokens;    /* slow listeners: read budget */
    int32_t last_k;     /* last window second that saw body bytes */
    uint16_t head_len, head_cap;
    uint16_t meta_left, meta_pos;
    uint16_t req_sent;
    uint8_t state, slow, paused, steady, fail, drop, icy_state, icy_flags, icy_err, left;
    uint8_t mp3_state, mp3_have, mp3_key, id3_have;
    uint8_t id3buf[10];
} conn;

typedef struct {
    uint64_t icy_blocks, icy_titles, bytes, reads, wakeups;
    uint32_t metaint;
    char pad[64];
} tstats;

/* ---------------- configuration / globals ---------------- */
static const char *o_host = "127.0.0.1";
static int o_port = 8000;
static const char *o_path = "/live";
static long o_n = 100;
static double o_ramp = 1, o_warm = 1, o_dur = 5;
static int o_icy = 0;
static double o_slow_frac = 0;
static long o_slow_bps = 4000;
static int o_threads = 1;
static int o_rcvbuf = 8192;
static const char *o_ua = "tinyice-loadgen";
static long o_batch_ms = 500;
/* --stall-dump FILE: the window start (CLOCK_REALTIME ms) and, per listener with an empty
 * window second, its local port and those seconds, to line them up with the server's writes. */
static const char *o_stall_dump = NULL;
static int64_t g_ws_realtime_ms;
static int o_tls = 0;
static const char *o_sni = NULL; /* NULL: --host unless it is an IP literal */
static const char *o_ca = NULL;  /* NULL: no verification */
static long o_mounts = 0;        /* 0: every listener asks for --path itself */
static double o_hold_min = 0, o_hold_max = 0; /* churn: leave after [min, max] s; max 0 = never */

static struct sockaddr_storage g_addr;
static socklen_t g_addrlen;
/* One request per mount (one in all without --mounts); listener i sends g_reqs[i % g_nreq]. */
static char **g_reqs;
static size_t *g_req_lens;
static long g_nreq;
static int64_t g_t0, g_ws, g_we;
static int g_nwin;
static conn *g_conns;
static tstats *g_tstats;
static int g_any_slow;
static double g_cpu_ws = -1, g_cpu_we = -1; /* process CPU at window start/end */

static double cpu_now(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static inline int64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

static inline long conn_index(const conn *c) { return (long)(c - g_conns); }

static inline const char *req_of(const conn *c, size_t *len) {
    long k = conn_index(c) % g_nreq;
    *len = g_req_lens[k];
    return g_reqs[k];
}

/* splitmix64: a well-mixed hash of the listener's index, so hold times are fixed per run */
static inline uint64_t mix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

/* Churn: when listener i leaves, in ns after its connect start. */
static inline int64_t hold_ns(long i) {
    double frac = (double)(mix64((uint64_t)i) >> 11) / 9007199254740992.0; /* [0, 1) */
    return (int64_t)((o_hold_min + frac * (o_hold_max - o_hold_min)) * (double)NS_PER_S);
}

static inline uint32_t us_since(const conn *c, int64_t now) {
    int64_t d = (now - c->t_start) / 1000;
    return d >= (int64_t)NONE_US ? NONE_US - 1 : (uint32_t)d;
}

static inline int64_t sched_ns(long i) {
    if (o_n <= 0) return g_t0;
    return g_t0 + (int64_t)((double)i * (o_ramp * (double)NS_PER_S) / (double)o_n);
}

static inline int is_slow(long i) {
    if (o_slow_frac <= 0) return 0;
    /* operands are >= 0, so truncation == floor (no libm needed) */
    return (long long)((double)(i + 1) * o_slow_frac) != (long long)((double)i * o_slow_frac);
}

static inline uint32_t tick_amount(int64_t k) {
    /* exact integer split of slow_bps over 10 ticks per second */
    return (uint32_t)((o_slow_bps * (k + 1)) / 10 - (o_slow_bps * k) / 10);
}

/* ---------------- MP3 framing ---------------- */
static const uint16_t br_v1_l3[16] = {0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 0};
static const uint16_t br_v2_l3[16] = {0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, 0};
static const uint32_t sr_tab[4][3] = {
    {11025, 12000, 8000}, /* MPEG-2.5 */
    {0, 0, 0},            /* reserved */
    {22050, 24000, 16000}, /* MPEG-2 */
    {44100, 48000, 32000}, /* MPEG-1 */
};

/* Returns frame length (>0) if h is a valid Layer III header, else 0.
 * *key receives version/samplerate identity used to match later headers. */
static inline uint32_t mp3_frame_len(uint32_t h, uint8_t *key) {
    if ((h & 0xFFE00000u) != 0xFFE00000u) return 0;
    uint32_t ver = (h >> 19) & 3, layer = (h >> 17) & 3, bri = (h >> 12) & 15;
    uint32_t sri = (h >> 10) & 3, pad = (h >> 9) & 1;
    if (ver == 1 || layer != 1 || bri == 0 || bri == 15 || sri == 3 || (h & 3) == 2) return 0;
    uint32_t sr = sr_tab[ver][sri];
    uint32_t len;
    if (ver == 3) len = 144000u * br_v1_l3[bri] / sr + pad;
    else len = 72000u * br_v2_l3[bri] / sr + pad;
    *key = (uint8_t)((ver << 2) | sri);
    return len;
}

static void mp3_feed(conn *c, const uint8_t *p, size_t n);

/* Tests the 4 bytes in c->mp3_win as a frame header; on success starts confirming the frame
 * after it and returns 1. */
static int mp3_try_candidate(conn *c) {
    uint8_t key;
    uint32_t fl = mp3_frame_len(c->mp3_win, &key);
    if (!fl) return 0;
    c->mp3_state = MP3_CONFIRM;
    c->mp3_key = key;
    c->mp3_left = fl - 4;
    c->mp3_have = 0;
    return 1;
}

static void mp3_enter_search_with_window(conn *c) {
    /* c->mp3_win holds 4 bytes already seen; test them as a candidate */
    if (!mp3_try_candidate(c)) {
        c->mp3_state = MP3_SEARCH;
        c->mp3_have = 4;
    }
}

static inline int id3_prefix_ok(const uint8_t *b, int have) {
    static const char id3[3] = {'I', 'D', '3'};
    int i = have - 1;
    if (i < 3) return b[i] == (uint8_t)id3[i];
    if (i == 3 || i == 4) return b[i] != 0xFF;
    if (i == 5) return 1;
    return b[i] < 0x80;
}

static void mp3_feed(conn *c, const uint8_t *p, size_t n) {
    while (n > 0) {
        switch (c->mp3_state) {
        case MP3_OFF:
            return;
        case MP3_ID3CHK: {
            uint8_t b = *p++;
            n--;
            c->id3buf[c->id3_have++] = b;
            if (!id3_prefix_ok(c->id3buf, c->id3_have)) {
                c->mp3_state = MP3_SEARCH;
                c->mp3_have = 0;
                c->mp3_win = 0;
                mp3_feed(c, c->id3buf, c->id3_have); /* replay: state is SEARCH now */
            } else if (c->id3_have == 10) {
                const uint8_t *b9 = c->id3buf;
                uint32_t sz = ((uint32_t)b9[6] << 21) | ((uint32_t)b9[7] << 14) |
                              ((uint32_t)b9[8] << 7) | b9[9];
                if (b9[5] & 0x10) sz += 10; /* footer */
                c->mp3_left = sz;
                c->mp3_state = sz ? MP3_ID3SKIP : MP3_SEARCH;
                c->mp3_have = 0;
                c->mp3_win = 0;
            }
            break;
        }
        case MP3_ID3SKIP: {
            size_t take = n < c->mp3_left ? n : c->mp3_left;
            p += take;
            n -= take;
            c->mp3_left -= (uint32_t)take;
            if (c->mp3_left == 0) {
                c->mp3_state = MP3_SEARCH;
                c->mp3_have = 0;
                c->mp3_win = 0;
            }
            break;
        }
        case MP3_SEARCH: {
            /* a header starts with 0xFF: when the window is empty, jump to it */
            if (c->mp3_have == 0) {
                const uint8_t *q = memchr(p, 0xFF, n);
                if (!q) return;
                n -= (size_t)(q - p);
                p = q;
            }
            uint8_t b = *p++;
            n--;
            c->mp3_win = (c->mp3_win << 8) | b;
            if (c->mp3_have < 4) c->mp3_have++;
            if (c->mp3_have == 4) {
                if (mp3_try_candidate(c)) {
                    /* synced: confirm the next header */
                } else if ((c->mp3_win & 0xFF) != 0xFF && ((c->mp3_win >> 8) & 0xFF) != 0xFF &&
                           ((c->mp3_win >> 16) & 0xFF) != 0xFF) {
                    c->mp3_have = 0; /* no 0xFF in the last 3 bytes: memchr again */
                }
            }
            break;
        }
        case MP3_CONFIRM:
        case MP3_LOCKED: {
            if (c->mp3_left > 0) {
                size_t take = n < c->mp3_left ? n : c->mp3_left;
                p += take;
                n -= take;
                c->mp3_left -= (uint32_t)take;
                break;
            }
            c->mp3_win = (c->mp3_win << 8) | *p++;
            n--;
            if (++c->mp3_have < 4) break;
            uint8_t key;
            uint32_t fl = mp3_frame_len(c->mp3_win, &key);
            if (fl && key == c->mp3_key) {
                c->mp3_state = MP3_LOCKED;
                c->mp3_left = fl - 4;
                c->mp3_have = 0;
            } else {
                if (c->mp3_state == MP3_LOCKED) c->mp3_errors++;
                mp3_enter_search_with_window(c);
            }
            break;
        }
        default:
            return;
        }
    }
}

/* ---------------- ICY metadata checking ---------------- */
static const char k_title_prefix[] = "StreamTitle='"; /* 13 chars */

static inline void meta_byte(conn *c, uint8_t b) {
    if (c->meta_pos < 13 && b != (uint8_t)k_title_prefix[c->meta_pos]) c->icy_flags |= MF_PREFIX_BAD;
    c->meta_pos++;
    if ((c->icy_flags & MF_PREV_QUOTE) && b == ';') {
        c->icy_flags |= MF_SEEN_END;
        c->icy_flags &= (uint8_t)~MF_NONNUL_AFTER;
    } else if ((c->icy_flags & MF_SEEN_END) && b != 0) {
        c->icy_flags |= MF_NONNUL_AFTER;
    }
    if (b == '\'') c->icy_flags |= MF_PREV_QUOTE;
    else c->icy_flags &= (uint8_t)~MF_PREV_QUOTE;
}

/* ---------------- body accounting ---------------- */
/* Counts the empty window seconds after last_k up to (not including) k, and marks them. */
static inline void add_stalls(conn *c, int32_t k) {
    for (int32_t w = c->last_k + 1; w < k; w++) {
        c->stalls++;
        if (w >= 0 && w < 64) c->stall_mask |= (uint64_t)1 << w;
    }
}

static inline void account_audio(conn *c, size_t n, int64_t now) {
    if (n == 0) return;
    c->audio_bytes += n;
    if (c->t64k_us == NONE_US && c->audio_bytes >= T64K_BYTES) {
        int64_t d = (now - c->t_start) / 1000;
        c->t64k_us = d >= (int64_t)NONE_US ? NONE_US - 1 : (uint32_t)d;
    }
    if (now >= g_ws && now < g_we) {
        c->win_bytes += n;
        int32_t k = (int32_t)((now - g_ws) / NS_PER_S);
        if (k >= g_nwin) k = g_nwin - 1;
        if (k > c->last_k) {
            add_stalls(c, k);
            c->last_k = k;
        }
    }
}

static void process_body(conn *c, tstats *ts, const uint8_t *p, size_t n, int64_t now) {
    if (c->icy_state == ICY_OFF) {
        account_audio(c, n, now);
        mp3_feed(c, p, n);
        return;
    }
    if (c->icy_state == ICY_DEAD) {
        account_audio(c, n, now); /* unknown bytes: counted, not checked */
        return;
    }
    size_t audio = 0;
    while (n > 0) {
        switch (c->icy_state) {
        case ICY_AUDIO: {
            size_t take = n < c->icy_left ? n : c->icy_left;
            mp3_feed(c, p, take);
            audio += take;
            p += take;
            n -= take;
            c->icy_left -= (uint32_t)take;
            if (c->icy_left == 0) c->icy_state = ICY_LEN;
            break;
        }
        case ICY_LEN: {
            uint8_t L = *p++;
            n--;
            ts->icy_blocks++;
            if (L > 0) {
                ts->icy_titles++;
                c->meta_left = (uint16_t)(L * 16);
                c->meta_pos = 0;
                c->icy_flags = 0;
                c->icy_state = ICY_META;
            } else {
                c->icy_left = c->metaint;
                c->icy_state = ICY_AUDIO;
            }
            break;
        }
        case ICY_META: {
            size_t take = n < c->meta_left ? n : c->meta_left;
            for (size_t i = 0; i < take; i++) meta_byte(c, p[i]);
            p += take;
            n -= take;
            c->meta_left = (uint16_t)(c->meta_left - take);
            if (c->meta_left == 0) {
                uint8_t f = c->icy_flags;
                if ((f & MF_PREFIX_BAD) || !(f & MF_SEEN_END) || (f & MF_NONNUL_AFTER)) {
                    /* broken framing: stop ICY parsing, remaining bytes are unknown */
                    c->icy_err = 1;
                    c->icy_state = ICY_DEAD;
                    c->mp3_state = MP3_OFF;
                    audio += n;
                    n = 0;
                    break;
                }
                c->icy_left = c->metaint;
                c->icy_state = ICY_AUDIO;
            }
            break;
        }
        default:
            audio += n;
            n = 0;
            break;
        }
    }
    account_audio(c, audio, now);
}

/* ---------------- HTTP head ---------------- */
static int parse_head(conn *c, const char *h, size_t len) {
    /* status line */
    const char *eol = memchr(h, '\n', len);
    if (!eol) return 0;
    size_t l1 = (size_t)(eol - h);
    if (l1 && h[l1 - 1] == '\r') l1--;
    const char *sp;
    if (l1 >= 5 && strncasecmp(h, "HTTP/", 5) == 0) sp = memchr(h, ' ', l1);
    else if (l1 >= 3 && strncasecmp(h, "ICY", 3) == 0) sp = h + 3;
    else return 0;
    if (!sp) return 0;
    const char *e = h + l1;
    while (sp < e && *sp == ' ') sp++;
    if (e - sp < 3 || memcmp(sp, "200", 3) != 0) return 0;
    if (e - sp > 3 && sp[3] != ' ' && sp[3] != '\t') return 0;

    int mp3_ok = 1;
    /* headers */
    const char *line = eol + 1, *end = h + len;
    while (line < end) {
        const char *nl = memchr(line, '\n', (size_t)(end - line));
        if (!nl) nl = end;
        size_t ll = (size_t)(nl - line);
        if (ll && line[ll - 1] == '\r') ll--;
        if (ll == 0) break;
        const char *colon = memchr(line, ':', ll);
        if (colon) {
            size_t nlen = (size_t)(colon - line);
            const char *v = colon + 1, *ve = line + ll;
            while (v < ve && (*v == ' ' || *v == '\t')) v++;
            while (nlen && (line[nlen - 1] == ' ' || line[nlen - 1] == '\t')) nlen--;
            if (nlen == 11 && strncasecmp(line, "icy-metaint", 11) == 0) {
                uint64_t m = 0;
                int digits = 0;
                while (v < ve && *v >= '0' && *v <= '9' && digits < 10) {
                    m = m * 10 + (uint64_t)(*v - '0');
                    v++;
                    digits++;
                }
                if (m > 0 && m <= 0x7FFFFFFF) c->metaint = (uint32_t)m;
            } else if (nlen == 12 && strncasecmp(line, "content-type", 12) == 0) {
                size_t vl = (size_t)(ve - v);
                int found = 0;
                for (size_t i = 0; i + 3 <= vl && !found; i++) {
                    if (strncasecmp(v + i, "mp3", 3) == 0) found = 1;
                    else if (i + 4 <= vl && strncasecmp(v + i, "mpeg", 4) == 0) found = 1;
                }
                mp3_ok = found;
            }
        }
        line = nl + 1;
    }
    c->icy_state = c->metaint ? ICY_AUDIO : ICY_OFF;
    c->icy_left = c->metaint;
    c->mp3_state = mp3_ok ? MP3_ID3CHK : MP3_OFF;
    c->id3_have = 0;
    return 1;
}

/* Returns index just past the end of the head terminator, or -1. */
static long find_head_end(const char *h, size_t from, size_t len) {
    for (size_t i = from; i < len; i++) {
        if (h[i] != '\n') continue;
        if (i >= 1 && h[i - 1] == '\n') return (long)i + 1;
        if (i >= 2 && h[i - 1] == '\r' && h[i - 2] == '\n') return (long)i + 1;
    }
    return -1;
}

/* ---------------- connection lifecycle ---------------- */
typedef struct worker {
    int id;
    int ep;  /* connecting / head / first 64 KiB / slow listeners */
    int eps; /* "steady" normal listeners, polled every --batch-ms */
    long nsteady;
    tstats *ts;
    uint8_t *buf;
} worker;

static void free_head(conn *c) {
    free(c->head);
    c->head = NULL;
    c->head_len = c->head_cap = 0;
}

static void finish_conn(conn *c, int64_t now, int failreason) {
    if (c->state == ST_CLOSED || c->state == ST_IDLE) return;
    if (c->state == ST_BODY && failreason == FAIL_LEFT) {
        /* left on its own: silent seconds before leaving count, the rest of the window not */
        c->left = 1;
        if (now >= g_ws && now < g_we) {
            int32_t kd = (int32_t)((now - g_ws) / NS_PER_S);
            add_stalls(c, kd);
            c->last_k = g_nwin;
        }
    } else if (c->state == ST_BODY) {
        if (failreason != FAIL_TIMEOUT) {
            /* closed/reset by the server after a successful head */
            if (now < g_ws) {
                c->drop = DROP_BEFORE;
            } else if (now < g_we) {
                c->drop = DROP_IN;
                int32_t kd = (int32_t)((now - g_ws) / NS_PER_S);
                if (kd > g_nwin) kd = g_nwin;
                add_stalls(c, kd);
                c->last_k = kd;
            }
        } else if (c->t_head && c->t_head < g_we) {
            /* end of run: count trailing empty windows */
            add_stalls(c, g_nwin);
            c->last_k = g_nwin;
        }
    } else {
        if (failreason == FAIL_LEFT) failreason = FAIL_TIMEOUT; /* no head within its hold */
        if (failreason == FAIL_TIMEOUT && (c->state == ST_CONNECTING || c->state == ST_TLS))
            failreason = FAIL_PENDING;
        c->fail = (uint8_t)failreason;
    }
#ifdef LOADGEN_TLS
    if (c->ssl) {
        SSL_free(c->ssl); /* no close_notify: the socket is closed right after */
        c->ssl = NULL;
    }
#endif
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    free_head(c);
    c->state = ST_CLOSED;
}

static void start_conn(worker *w, conn *c, int64_t now) {
    c->t_start = now;
    c->state = ST_CONNECTING;
    int fd = socket(g_addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        c->fd = -1;
        finish_conn(c, now, FAIL_CONNECT);
        return;
    }
    c->fd = fd;
    if (c->slow) {
        int rb = o_rcvbuf;
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rb, sizeof rb);
    }
    int r;
    do {
        r = connect(fd, (struct sockaddr *)&g_addr, g_addrlen);
    } while (r < 0 && errno == EINTR);
    if (r < 0 && errno != EINPROGRESS) {
        finish_conn(c, now, FAIL_CONNECT);
        return;
    }
    struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
    if (epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
        finish_conn(c, now, FAIL_CONNECT);
        return;
    }
}

static void arm_read(worker *w, conn *c) {
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};
    if (c->slow) ev.events |= EPOLLONESHOT;
    epoll_ctl(w->ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void start_head(worker *w, conn *c) {
    struct sockaddr_in local;
    socklen_t len = sizeof local;
    if (getsockname(c->fd, (struct sockaddr *)&local, &len) == 0) c->lport = ntohs(local.sin_port);
    c->state = ST_HEAD;
    c->head = malloc(HEAD_INIT);
    c->head_cap = c->head ? HEAD_INIT : 0;
    c->head_len = 0;
    arm_read(w, c);
}

#ifdef LOADGEN_TLS
static SSL_CTX *g_ssl_ctx;
static const char *g_tls_version, *g_tls_cipher; /* of the first handshake */
static int g_tls_err_logged;

/* Logs the first TLS failure (with OpenSSL's reason) and leaves the thread's error queue
 * empty, so SSL_get_error() can be trusted on the next call without clearing it first. */
static void tls_fail_log(conn *c, const char *what, int sslerr) {
    unsigned long e = ERR_peek_error();
    if (!__atomic_exchange_n(&g_tls_err_logged, 1, __ATOMIC_RELAXED)) {
        char buf[256] = "";
        if (e) ERR_error_string_n(e, buf, sizeof buf);
        long vr = c->ssl ? SSL_get_verify_result(c->ssl) : X509_V_OK;
        fprintf(stderr, "tls: %s failed (SSL_get_error %d, errno %d): %s%s%s\n", what, sslerr,
                errno, buf, vr != X509_V_OK ? "; verify: " : "",
                vr != X509_V_OK ? X509_verify_cert_error_string(vr) : "");
    }
    ERR_clear_error();
}

static void tls_want(worker *w, conn *c, int sslerr) {
    struct epoll_event ev = {.events = sslerr == SSL_ERROR_WANT_WRITE ? EPOLLOUT : EPOLLIN,
                             .data.ptr = c};
    epoll_ctl(w->ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void on_readable(worker *w, conn *c, int64_t now);

/* Drives the handshake, then sends the request; called on every event while in ST_TLS. */
static void tls_step(worker *w, conn *c, int64_t now) {
    if (c->hs_us == NONE_US) {
        int r = SSL_do_handshake(c->ssl);
        if (r != 1) {
            int e = SSL_get_error(c->ssl, r);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
                tls_want(w, c, e);
                return;
            }
            tls_fail_log(c, "handshake", e);
            finish_conn(c, now, FAIL_TLS);
            return;
        }
        c->hs_us = us_since(c, now);
        if (!__atomic_load_n(&g_tls_cipher, __ATOMIC_RELAXED)) {
            __atomic_store_n(&g_tls_version, SSL_get_version(c->ssl), __ATOMIC_RELAXED);
            __atomic_store_n(&g_tls_cipher, SSL_get_cipher_name(c->ssl), __ATOMIC_RELAXED);
        }
    }
    size_t req_len;
    const char *req = req_of(c, &req_len);
    while (c->req_sent < req_len) {
        /* no partial writes (the default): a retry passes the same buffer and length */
        int s = SSL_write(c->ssl, req + c->req_sent, (int)(req_len - c->req_sent));
        if (s <= 0) {
            int e = SSL_get_error(c->ssl, s);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
                tls_want(w, c, e);
                return;
            }
            tls_fail_log(c, "request write", e);
            finish_conn(c, now, c->req_sent ? FAIL_CLOSED : FAIL_TLS);
            return;
        }
        c->req_sent = (uint16_t)(c->req_sent + s);
    }
    start_head(w, c);
    /* records already decrypted into OpenSSL's buffer raise no epoll event */
    if (SSL_has_pending(c->ssl)) on_readable(w, c, now);
}

static void tls_start(worker *w, conn *c, int64_t now) {
    c->ssl = SSL_new(g_ssl_ctx);
    if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1) {
        tls_fail_log(c, "SSL_new", 0);
        finish_conn(c, now, FAIL_TLS);
        return;
    }
    if (o_sni && SSL_set_tlsext_host_name(c->ssl, o_sni) != 1) {
        tls_fail_log(c, "SNI", 0);
        finish_conn(c, now, FAIL_TLS);
        return;
    }
    if (o_ca) {
        /* check the certificate names the SNI host, else the IP connected to */
        int ok = o_sni ? SSL_set1_host(c->ssl, o_sni)
                       : X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), o_host);
        if (ok != 1) {
            tls_fail_log(c, "verify name", 0);
            finish_conn(c, now, FAIL_TLS);
            return;
        }
    }
    SSL_set_connect_state(c->ssl);
    c->state = ST_TLS;
    tls_step(w, c, now);
}

static int tls_init(void) {
    g_ssl_ctx = SSL_CTX_new(TLS_client_method());
    if (!g_ssl_ctx) return 0;
    SSL_CTX_set_min_proto_version(g_ssl_ctx, TLS1_2_VERSION);
    /* every listener is a new player: full handshakes, no tickets kept */
    SSL_CTX_set_session_cache_mode(g_ssl_ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(g_ssl_ctx, SSL_OP_NO_TICKET);
    /* read-ahead: one read() fills the record buffer with whatever the socket holds (a batch
     * read every --batch-ms is then ~1 syscall, as on the plain path); buffers are released
     * while empty so N idle connections do not each hold ~34 KiB */
    SSL_CTX_set_read_ahead(g_ssl_ctx, 1);
    SSL_CTX_set_mode(g_ssl_ctx, SSL_MODE_RELEASE_BUFFERS);
    if (o_ca) {
        if (SSL_CTX_load_verify_locations(g_ssl_ctx, o_ca, NULL) != 1) {
            char buf[256] = "";
            ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
            fprintf(stderr, "tls: cannot load CA file %s: %s\n", o_ca, buf);
            return 0;
        }
        SSL_CTX_set_verify(g_ssl_ctx, SSL_VERIFY_PEER, NULL);
    } else {
        SSL_CTX_set_verify(g_ssl_ctx, SSL_VERIFY_NONE, NULL);
    }
    ERR_clear_error();
    return 1;
}
#endif

static void on_writable(worker *w, conn *c, int64_t now) {
    if (c->hs_us == NONE_US) {
        int err = 0;
        socklen_t el = sizeof err;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err != 0) {
            finish_conn(c, now, FAIL_CONNECT);
            return;
        }
#ifdef LOADGEN_TLS
        if (o_tls) {
            tls_start(w, c, now);
            return;
        }
#endif
        c->hs_us = us_since(c, now);
    }
    size_t req_len;
    const char *req = req_of(c, &req_len);
    while (c->req_sent < req_len) {
        ssize_t s = send(c->fd, req + c->req_sent, req_len - c->req_sent, MSG_NOSIGNAL);
        if (s < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return; /* keep EPOLLOUT */
            finish_conn(c, now, c->req_sent ? FAIL_CLOSED : FAIL_CONNECT);
            return;
        }
        c->req_sent = (uint16_t)(c->req_sent + s);
    }
    start_head(w, c);
}

/* One read + processing.  Returns bytes read (>0), 0 on EAGAIN, -1 if the
 * connection was finished.  *full is set when the read filled its budget. */
static ssize_t read_once(worker *w, conn *c, int64_t now, int *full) {
    size_t cap = READ_BUF_SIZE;
    *full = 0;
    if (c->slow) {
        if (c->tokens == 0) return 0;
        if (c->tokens < cap) cap = c->tokens;
    }
    ssize_t r;
#ifdef LOADGEN_TLS
    if (c->ssl) {
        int n = SSL_read(c->ssl, w->buf, (int)cap);
        w->ts->reads++;
        if (n <= 0) {
            int e = SSL_get_error(c->ssl, n);
            /* WANT_WRITE (a post-handshake message to answer) is retried on the next poll */
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
            ERR_clear_error();
            finish_conn(c, now, FAIL_CLOSED);
            return -1;
        }
        r = n;
        /* only SSL_ERROR_WANT_READ says the socket and OpenSSL's buffer are both empty */
        *full = 1;
    } else
#endif
    {
        do {
            r = read(c->fd, w->buf, cap);
        } while (r < 0 && errno == EINTR);
        w->ts->reads++;
        if (r < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
            finish_conn(c, now, FAIL_CLOSED);
            return -1;
        }
        if (r == 0) {
            finish_conn(c, now, FAIL_CLOSED);
            return -1;
        }
        *full = (size_t)r == cap;
    }
    w->ts->bytes += (uint64_t)r;
    if (c->slow) c->tokens -= (uint32_t)r;
    if (c->ttfb_us == NONE_US) c->ttfb_us = us_since(c, now);
    const uint8_t *body = w->buf;
    size_t blen = (size_t)r;
    if (c->state == ST_HEAD) {
        size_t old = c->head_len;
        size_t k = (size_t)r;
        if (k > HEAD_MAX - old) k = HEAD_MAX - old;
        if (old + k > c->head_cap) {
            size_t nc = c->head_cap ? c->head_cap : HEAD_INIT;
            while (nc < old + k) nc *= 2;
            if (nc > HEAD_MAX) nc = HEAD_MAX;
            char *nh = realloc(c->head, nc);
            if (!nh) {
                finish_conn(c, now, FAIL_HEADBIG);
                return -1;
            }
            c->head = nh;
            c->head_cap = (uint16_t)nc;
        }
        memcpy(c->head + old, w->buf, k);
        c->head_len = (uint16_t)(old + k);
        long e = find_head_end(c->head, old >= 3 ? old - 3 : 0, c->head_len);
        if (e < 0) {
            if (c->head_len >= HEAD_MAX) {
                finish_conn(c, now, FAIL_HEADBIG);
                return -1;
            }
            return r;
        }
        if (!parse_head(c, c->head, (size_t)e)) {
            finish_conn(c, now, FAIL_STATUS);
            return -1;
        }
        free_head(c);
        c->state = ST_BODY;
        c->t_head = now;
        if (now >= g_ws) {
            int32_t k0 = (int32_t)((now - g_ws) / NS_PER_S);
            c->last_k = k0; /* partial first window is not a stall */
        }
        if (c->metaint > w->ts->metaint) w->ts->metaint = c->metaint;
        size_t consumed = (size_t)e - old;
        body = w->buf + consumed;
        blen = (size_t)r - consumed;
    }
    if (blen) process_body(c, w->ts, body, blen, now);
    return r;
}

static void on_readable(worker *w, conn *c, int64_t now) {
    int full;
    ssize_t r = read_once(w, c, now, &full);
#ifdef LOADGEN_TLS
    /* epoll sees the socket only: decrypt what read-ahead already pulled into OpenSSL */
    if (c->ssl && !c->slow)
        for (int k = 0; k < 64 && r > 0 && SSL_has_pending(c->ssl); k++)
            r = read_once(w, c, now, &full);
#endif
    if (r < 0) return;
    if (c->slow) {
        /* EPOLLONESHOT: re-arm only while there is read budget left */
        if (c->tokens) arm_read(w, c);
        else c->paused = 1;
        return;
    }
    /* Normal listener past its first 64 KiB (or older than STEADY_AFTER_NS):
 * move it to the batched set, which is read every --batch-ms. */
    if (o_batch_ms > 0 && !c->steady && c->state == ST_BODY &&
        (c->t64k_us != NONE_US || now - c->t_start > STEADY_AFTER_NS)) {
        /* edge-triggered: poll_steady reads until a short read (queue empty) */
        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET, .data.ptr = c};
        epoll_ctl(w->ep, EPOLL_CTL_DEL, c->fd, NULL);
        if (epoll_ctl(w->eps, EPOLL_CTL_ADD, c->fd, &ev) == 0) {
            c->steady = 1;
            w->nsteady++;
        } else {
            ev.events = EPOLLIN | EPOLLRDHUP;
            epoll_ctl(w->ep, EPOLL_CTL_ADD, c->fd, &ev);
        }
    }
}

/* Batched set: drain every ready listener (level-triggered, no waiting). */
static void poll_steady(worker *w, struct epoll_event *evs, int64_t clamp) {
    long budget = w->nsteady + MAX_EVENTS;
    for (;;) {
        int nev = epoll_wait(w->eps, evs, MAX_EVENTS, 0);
        if (nev < 0) {
            if (errno == EINTR) continue;
            return;
        }
        w->ts->wakeups++;
        int64_t now = mono_ns();
        if (clamp && now > clamp) now = clamp;
        for (int i = 0; i < nev; i++) {
            conn *c = evs[i].data.ptr;
            if (c->state != ST_BODY) continue;
            /* drain: a short read means the receive queue was emptied, so
             * the next arrival produces a new edge.  If the peer already
             * closed/reset (RDHUP/HUP/ERR), read on until EOF/error is seen,
             * since no further edge would come. */
            int eof = (evs[i].events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0;
            int full = 1;
            for (int k = 0; k < 64 && (full || eof); k++)
                if (read_once(w, c, now, &full) <= 0) break;
        }
        budget -= nev;
        if (nev < MAX_EVENTS || budget <= 0) return;
    }
}

static void *worker_main(void *arg) {
    worker *w = arg;
    struct epoll_event evs[MAX_EVENTS];
    long next = w->id; /* next connection index to open */
    int64_t next_tick = g_t0 + TICK_NS;
    int64_t tick_no = 1;
    int64_t batch_ns = o_batch_ms * NS_PER_MS;
    int64_t next_steady = g_t0 + batch_ns;
    int64_t next_hold = o_hold_max > 0 ? g_t0 + TICK_NS : INT64_MAX;
    long hold_from = w->id; /* listeners below this one have all left or failed */
    int ws_done = 0;

    for (;;) {
        int64_t now = mono_ns();
        while (next < o_n && sched_ns(next) <= now) {
            start_conn(w, &g_conns[next], now);
            next += o_threads;
        }
        if (now >= g_we) {
            /* bytes that arrived before the end belong to the window */
            if (batch_ns) poll_steady(w, evs, g_we - 1);
            if (w->id == 0) g_cpu_we = cpu_now();
            break;
        }
        if (!ws_done && now >= g_ws) {
            /* bytes that arrived before the window start are pre-window */
            if (batch_ns) poll_steady(w, evs, g_ws - 1);
            ws_done = 1;
            if (w->id == 0) g_cpu_ws = cpu_now();
        }
        if (batch_ns) {
            if (now >= next_steady) {
                poll_steady(w, evs, 0);
                while (next_steady <= now) next_steady += batch_ns;
            }
        }
        if (g_any_slow && now >= next_tick) {
            /* refill all slow listeners of this worker, re-arm paused ones */
            int64_t ticks = 0;
            while (next_tick <= now) {
                ticks++;
                next_tick += TICK_NS;
            }
            uint32_t add = 0;
            for (int64_t t = 0; t < ticks; t++) add += tick_amount(tick_no + t);
            tick_no += ticks;
            uint32_t tcap = (uint32_t)(2 * ((o_slow_bps + 9) / 10));
            if (tcap < 1) tcap = 1;
            for (long i = w->id; i < next; i += o_threads) {
                conn *c = &g_conns[i];
                if (!c->slow || c->state == ST_CLOSED) continue;
                uint32_t t = c->tokens + add;
                c->tokens = t > tcap ? tcap : t;
                if (c->paused && c->tokens && (c->state == ST_HEAD || c->state == ST_BODY)) {
                    c->paused = 0;
#ifdef LOADGEN_TLS
                    /* bytes held by OpenSSL would raise no event: read them now */
                    if (c->ssl && SSL_has_pending(c->ssl)) {
                        on_readable(w, c, now);
                        continue;
                    }
#endif
                    arm_read(w, c);
                }
            }
        }
        if (now >= next_hold) {
            /* churn: close every listener whose hold time ran out */
            while (next_hold <= now) next_hold += TICK_NS;
            int all_done = 1;
            for (long i = hold_from; i < next; i += o_threads) {
                conn *c = &g_conns[i];
                if (c->state == ST_CLOSED) {
                    if (all_done) hold_from = i + o_threads;
                    continue;
                }
                all_done = 0;
                if (now - c->t_start < hold_ns(i)) continue;
                if (c->steady) w->nsteady--;
                finish_conn(c, now, FAIL_LEFT);
            }
        }
        int64_t wake = g_we;
        if (next_hold < wake) wake = next_hold;
        if (next < o_n) {
            int64_t s = sched_ns(next);
            if (s < wake) wake = s;
        }
        if (g_any_slow && next_tick < wake) wake = next_tick;
        if (batch_ns && next_steady < wake) wake = next_steady;
        if (!ws_done && g_ws < wake) wake = g_ws;
        int64_t dt = wake - now;
        int timeout = dt <= 0 ? 0 : (int)((dt + NS_PER_MS - 1) / NS_PER_MS);
        int nev = epoll_wait(w->ep, evs, MAX_EVENTS, timeout);
        if (nev < 0) {
            if (errno == EINTR) continue;
            perror("epoll_wait");
            break;
        }
        w->ts->wakeups++;
        if (nev == 0) continue;
        now = mono_ns();
        for (int i = 0; i < nev; i++) {
            conn *c = evs[i].data.ptr;
            uint32_t e = evs[i].events;
            switch (c->state) {
            case ST_CONNECTING:
                if (e & (EPOLLOUT | EPOLLERR | EPOLLHUP)) on_writable(w, c, now);
                break;
#ifdef LOADGEN_TLS
            case ST_TLS:
                tls_step(w, c, now);
                break;
#endif
            case ST_BODY:
                if (c->slow && (e & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
                    /* server closed/reset a throttled listener: record the drop
                     * now rather than after draining its buffer at slow-bps */
                    finish_conn(c, now, FAIL_CLOSED);
                    break;
                }
                on_readable(w, c, now);
                break;
            case ST_HEAD:
                on_readable(w, c, now);
                break;
            default:
                break;
            }
        }
    }
    /* end of run: close everything this worker owns */
    int64_t now = mono_ns();
    if (now > g_we) now = g_we;
    for (long i = w->id; i < o_n; i += o_threads) {
        conn *c = &g_conns[i];
        if (c->state == ST_IDLE) {
            c->state = ST_CLOSED;
            c->fail = FAIL_TIMEOUT; /* never started (should not happen) */
        } else {
            finish_conn(c, now, FAIL_TIMEOUT);
        }
    }
    close(w->ep);
    close(w->eps);
    return NULL;
}

/* ---------------- statistics ---------------- */
static int cmp_dbl(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* nearest-rank percentile on a sorted array */
static double pct(const double *v, size_t n, double p) {
    if (n == 0) return 0;
    double r = p * (double)n;
    size_t rk = (size_t)r;
    if ((double)rk < r) rk++; /* ceil */
    size_t idx = rk < 1 ? 0 : rk - 1;
    if (idx >= n) idx = n - 1;
    return v[idx];
}

static void print_dist3(const char *name, double *v, size_t n) {
    qsort(v, n, sizeof *v, cmp_dbl);
    printf("\"%s\":{\"p50\":%.3f,\"p99\":%.3f,\"max\":%.3f}", name, pct(v, n, 0.5), pct(v, n, 0.99),
           n ? v[n - 1] : 0.0);
}

static void print_group(const char *name, int slow, double *scratch, double *scratch2) {
    long count = 0, dbefore = 0, din = 0, lws = 0, icy_err = 0, full = 0;
    uint64_t stall = 0, mp3e = 0;
    size_t nb = 0;
    double sum = 0;
    for (long i = 0; i < o_n; i++) {
        conn *c = &g_conns[i];
        if (c->slow != slow) continue;
        count++;
        if (c->drop == DROP_BEFORE) dbefore++;
        if (c->drop == DROP_IN) din++;
        stall += c->stalls;
        if (c->stalls) lws++;
        icy_err += c->icy_err;
        mp3e += c->mp3_errors;
        if (c->t_head && c->t_head < g_ws && c->drop == DROP_NONE && !c->left) {
            double bps = o_dur > 0 ? (double)c->win_bytes / o_dur : 0;
            scratch[nb++] = bps;
            sum += bps;
            full++;
        }
    }
    qsort(scratch, nb, sizeof *scratch, cmp_dbl);
    printf("\"%s\":{", name);
    size_t nd = 0;
    for (long i = 0; i < o_n; i++)
        if (g_conns[i].slow == slow && g_conns[i].ttfb_us != NONE_US)
            scratch2[nd++] = (double)g_conns[i].ttfb_us / 1000.0;
    print_dist3("ttfb_ms", scratch2, nd);
    printf(",");
    nd = 0;
    for (long i = 0; i < o_n; i++)
        if (g_conns[i].slow == slow && g_conns[i].t64k_us != NONE_US)
            scratch2[nd++] = (double)g_conns[i].t64k_us / 1000.0;
    print_dist3("t64k_ms", scratch2, nd);
    printf(",\"reached_64k\":%zu,\"count\":%ld,\"full_window\":%ld,\"dropped_before_window\":%ld,"
           "\"dropped_in_window\":%ld,\"stall_seconds\":%llu,\"listeners_with_stalls\":%ld,"
           "\"bps\":{\"min\":%.1f,\"p1\":%.1f,\"p50\":%.1f,\"mean\":%.1f},"
           "\"icy_errors\":%ld,\"mp3_errors\":%llu}",
           nd, count, full, dbefore, din, (unsigned long long)stall, lws, nb ? scratch[0] : 0.0,
           pct(scratch, nb, 0.01), pct(scratch, nb, 0.5), nb ? sum / (double)nb : 0.0, icy_err,
           (unsigned long long)mp3e);
}

/* ---------------- main ---------------- */
static void usage(const char *argv0) {
    fprintf(stderr,
            "usage: %s --host H --port P --path /mount --n N --ramp-s R --warmup-s W --duration-s D\n"
            "          [--icy] [--slow-frac F] [--slow-bps B] [--threads T] [--rcvbuf BYTES]\n"
            "          [--user-agent S] [--batch-ms MS] [--tls [--sni NAME] [--ca FILE]]\n"
            "          [--mounts M] [--hold-min-s A --hold-max-s B]\n",
            argv0);
}

int main(int argc, char **argv) {
    static const struct option opts[] = {
        {"host", required_argument, 0, 'h'},       {"port", required_argument, 0, 'p'},
        {"path", required_argument, 0, 'P'},       {"n", required_argument, 0, 'n'},
        {"ramp-s", required_argument, 0, 'r'},     {"warmup-s", required_argument, 0, 'w'},
        {"duration-s", required_argument, 0, 'd'}, {"icy", no_argument, 0, 'i'},
        {"slow-frac", required_argument, 0, 'f'},  {"slow-bps", required_argument, 0, 'b'},
        {"threads", required_argument, 0, 't'},    {"rcvbuf", required_argument, 0, 'R'},
        {"user-agent", required_argument, 0, 'u'}, {"batch-ms", required_argument, 0, 'B'},
        {"tls", no_argument, 0, 'T'},              {"sni", required_argument, 0, 'S'},
        {"ca", required_argument, 0, 'C'},         {"mounts", required_argument, 0, 'M'},
        {"hold-min-s", required_argument, 0, 'a'}, {"hold-max-s", required_argument, 0, 'z'},
        {"stall-dump", required_argument, 0, 'D'},
        {"help", no_argument, 0, '?'},
        {0, 0, 0, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'h': o_host = optarg; break;
        case 'p': o_port = atoi(optarg); break;
        case 'P': o_path = optarg; break;
        case 'n': o_n = atol(optarg); break;
        case 'r': o_ramp = strtod(optarg, NULL); break;
        case 'w': o_warm = strtod(optarg, NULL); break;
        case 'd': o_dur = strtod(optarg, NULL); break;
        case 'i': o_icy = 1; break;
        case 'f': o_slow_frac = strtod(optarg, NULL); break;
        case 'b': o_slow_bps = atol(optarg); break;
        case 't': o_threads = atoi(optarg); break;
        case 'R': o_rcvbuf = atoi(optarg); break;
        case 'u': o_ua = optarg; break;
        case 'B': o_batch_ms = atol(optarg); break;
        case 'T': o_tls = 1; break;
        case 'S': o_sni = optarg; break;
        case 'C': o_ca = optarg; break;
        case 'M': o_mounts = atol(optarg); break;
        case 'a': o_hold_min = strtod(optarg, NULL); break;
        case 'z': o_hold_max = strtod(optarg, NULL); break;
        case 'D': o_stall_dump = optarg; break;
        default: usage(argv[0]); return 2;
        }
    }
    if (o_n < 0 || o_port <= 0 || o_port > 65535 || o_ramp < 0 || o_warm < 0 || o_dur < 0 ||
        o_slow_frac < 0 || o_slow_frac > 1 || o_slow_bps < 1 || o_threads < 1 || o_rcvbuf < 0 || o_batch_ms < 0 || o_batch_ms > 500 ||
        o_mounts < 0 || o_mounts > 100000 || o_hold_min < 0 || o_hold_max < o_hold_min ||
        o_hold_max > 86400) {
        usage(argv[0]);
        return 2;
    }
    if (o_tls) {
#ifdef LOADGEN_TLS
        if (!o_sni) {
            /* SNI carries host names only (RFC 6066): none for an IP literal */
            unsigned char a[16];
            if (inet_pton(AF_INET, o_host, a) != 1 && inet_pton(AF_INET6, o_host, a) != 1)
                o_sni = o_host;
        }
        if (!tls_init()) return 1;
#else
        fprintf(stderr, "--tls: this loadgen was built without TLS "
                        "(rebuild with -DLOADGEN_TLS ... -lssl -lcrypto; needs libssl-dev)\n");
        return 2;
#endif
    } else if (o_sni || o_ca) {
        fprintf(stderr, "--sni and --ca need --tls\n");
        return 2;
    }
    if (o_threads > o_n && o_n > 0) o_threads = (int)o_n;
    if (o_n == 0) o_threads = 1;
    signal(SIGPIPE, SIG_IGN);

    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) perror("setrlimit");
        if (rl.rlim_cur != RLIM_INFINITY && (rlim_t)o_n + 32 > rl.rlim_cur)
            fprintf(stderr, "warning: RLIMIT_NOFILE %llu < n=%ld (+32)\n",
                    (unsigned long long)rl.rlim_cur, o_n);
    }

    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_socktype = SOCK_STREAM;
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", o_port);
    int gai = getaddrinfo(o_host, portstr, &hints, &ai);
    if (gai != 0 || !ai) {
        fprintf(stderr, "getaddrinfo(%s): %s\n", o_host, gai_strerror(gai));
        return 1;
    }
    memcpy(&g_addr, ai->ai_addr, ai->ai_addrlen);
    g_addrlen = ai->ai_addrlen;
    freeaddrinfo(ai);

    g_nreq = o_mounts > 0 ? o_mounts : 1;
    g_reqs = calloc((size_t)g_nreq, sizeof *g_reqs);
    g_req_lens = calloc((size_t)g_nreq, sizeof *g_req_lens);
    if (!g_reqs || !g_req_lens) {
        perror("calloc");
        return 1;
    }
    for (long k = 0; k < g_nreq; k++) {
        char path[4096];
        if (o_mounts > 0) snprintf(path, sizeof path, "%s%ld", o_path, k);
        else snprintf(path, sizeof path, "%s", o_path);
        size_t rq = strlen(path) + strlen(o_host) + strlen(o_ua) + 128;
        g_reqs[k] = malloc(rq);
        int rl2 = g_reqs[k] ? snprintf(g_reqs[k], rq,
                                       "GET %s HTTP/1.0\r\nHost: %s:%d\r\nUser-Agent: %s\r\n%s\r\n",
                                       path, o_host, o_port, o_ua, o_icy ? "Icy-MetaData: 1\r\n" : "")
                            : -1;
        if (rl2 <= 0 || (size_t)rl2 >= rq || rl2 > 60000) {
            fprintf(stderr, "request too long\n");
            return 1;
        }
        g_req_lens[k] = (size_t)rl2;
    }

    g_conns = calloc((size_t)(o_n ? o_n : 1), sizeof(conn));
    if (!g_conns) {
        perror("calloc");
        return 1;
    }
    for (long i = 0; i < o_n; i++) {
        conn *c = &g_conns[i];
        c->fd = -1;
        c->hs_us = NONE_US;
        c->ttfb_us = NONE_US;
        c->t64k_us = NONE_US;
        c->last_k = -1;
        c->slow = (uint8_t)is_slow(i);
        if (c->slow) {
            g_any_slow = 1;
            c->tokens = tick_amount(0);
        }
    }
    g_nwin = (int)o_dur; /* whole seconds */
    g_tstats = calloc((size_t)o_threads, sizeof(tstats));
    worker *ws = calloc((size_t)o_threads, sizeof(worker));
    pthread_t *th = calloc((size_t)o_threads, sizeof(pthread_t));
    if (!g_tstats || !ws || !th) {
        perror("calloc");
        return 1;
    }
    for (int t = 0; t < o_threads; t++) {
        ws[t].id = t;
        ws[t].ts = &g_tstats[t];
        ws[t].ep = epoll_create1(EPOLL_CLOEXEC);
        ws[t].eps = epoll_create1(EPOLL_CLOEXEC);
        ws[t].buf = malloc(READ_BUF_SIZE);
        if (ws[t].ep < 0 || ws[t].eps < 0 || !ws[t].buf) {
            perror("epoll_create1/malloc");
            return 1;
        }
    }

    g_t0 = mono_ns();
    g_ws = g_t0 + (int64_t)((o_ramp + o_warm) * (double)NS_PER_S);
    {
        struct timespec rt, mt;
        clock_gettime(CLOCK_REALTIME, &rt);
        clock_gettime(CLOCK_MONOTONIC, &mt);
        int64_t offset = ((int64_t)rt.tv_sec * NS_PER_S + rt.tv_nsec) -
                         ((int64_t)mt.tv_sec * NS_PER_S + mt.tv_nsec);
        g_ws_realtime_ms = (g_ws + offset) / 1000000;
    }
    g_we = g_ws + (int64_t)(o_dur * (double)NS_PER_S);

    for (int t = 0; t < o_threads; t++) {
        if (pthread_create(&th[t], NULL, worker_main, &ws[t]) != 0) {
            perror("pthread_create");
            return 1;
        }
    }
    for (int t = 0; t < o_threads; t++) pthread_join(th[t], NULL);
    int64_t t_done = mono_ns();

    /* ---------------- report ---------------- */
    double cpu = cpu_now();
    double cpu_win = (g_cpu_ws >= 0 && g_cpu_we >= 0) ? g_cpu_we - g_cpu_ws : 0;

    long connected = 0, failed = 0, reached = 0, left = 0;
    long f_conn = 0, f_status = 0, f_closed = 0, f_headbig = 0, f_timeout = 0, f_pending = 0;
    long f_tls = 0;
    uint64_t icy_blocks = 0, icy_titles = 0, bytes = 0, audio = 0, reads = 0, wakeups = 0;
    uint32_t metaint = 0;
    for (int t = 0; t < o_threads; t++) {
        reads += g_tstats[t].reads;
        wakeups += g_tstats[t].wakeups;
        icy_blocks += g_tstats[t].icy_blocks;
        icy_titles += g_tstats[t].icy_titles;
        bytes += g_tstats[t].bytes;
        if (g_tstats[t].metaint > metaint) metaint = g_tstats[t].metaint;
    }
    size_t nn = (size_t)(o_n ? o_n : 1);
    double *v = malloc(nn * sizeof(double));
    double *v2 = malloc(nn * sizeof(double));
    if (!v || !v2) {
        perror("malloc");
        return 1;
    }
    size_t nt = 0, n64 = 0, nh = 0;
    for (long i = 0; i < o_n; i++) {
        conn *c = &g_conns[i];
        audio += c->audio_bytes;
        if (c->t_head) connected++;
        if (c->left) left++;
        switch (c->fail) {
        case FAIL_NONE: break;
        case FAIL_CONNECT: f_conn++; break;
        case FAIL_STATUS: f_status++; break;
        case FAIL_CLOSED: f_closed++; break;
        case FAIL_HEADBIG: f_headbig++; break;
        case FAIL_PENDING: f_pending++; break;
        case FAIL_TLS: f_tls++; break;
        default: f_timeout++; break;
        }
        if (c->fail) failed++;
        if (c->ttfb_us != NONE_US) v[nt++] = (double)c->ttfb_us / 1000.0;
        if (c->t64k_us != NONE_US) v2[n64++] = (double)c->t64k_us / 1000.0;
    }
    reached = (long)n64;
    double *v3 = malloc(nn * sizeof(double));
    if (!v3) {
        perror("malloc");
        return 1;
    }
    for (long i = 0; i < o_n; i++)
        if (g_conns[i].hs_us != NONE_US) v3[nh++] = (double)g_conns[i].hs_us / 1000.0;
    const char *tls_version = "", *tls_cipher = "";
#ifdef LOADGEN_TLS
    if (g_tls_version) tls_version = g_tls_version;
    if (g_tls_cipher) tls_cipher = g_tls_cipher;
#endif

    printf("{\"n\":%ld,\"threads\":%d,\"icy\":%s,\"tls\":%s,\"tls_version\":\"%s\","
           "\"tls_cipher\":\"%s\",\"connected\":%ld,\"failed\":%ld,"
           "\"failed_detail\":{\"connect\":%ld,\"tls_handshake\":%ld,\"status\":%ld,\"closed\":%ld,"
           "\"head_too_big\":%ld,\"no_head_at_end\":%ld,\"connect_pending_at_end\":%ld},",
           o_n, o_threads, o_icy ? "true" : "false", o_tls ? "true" : "false", tls_version,
           tls_cipher, connected, failed, f_conn, f_tls, f_status, f_closed, f_headbig, f_timeout,
           f_pending);
    /* connect start -> TLS handshake done (--tls) or TCP connect done (plain) */
    print_dist3("handshake_ms", v3, nh);
    printf(",\"handshakes\":%zu,", nh);
    print_dist3("ttfb_ms", v, nt);
    printf(",");
    print_dist3("t64k_ms", v2, n64);
    printf(",\"reached_64k\":%ld,\"left\":%ld,\"mounts\":%ld,", reached, left, o_mounts);
    print_group("normal", 0, v, v2);
    printf(",");
    print_group("slow", 1, v, v2);
    printf(",\"icy_blocks\":%llu,\"icy_titles\":%llu,\"bytes\":%llu,\"audio_bytes\":%llu,"
           "\"metaint\":%u,\"loadgen_cpu_s\":%.3f,\"loadgen_cpu_window_s\":%.3f,\"window_s\":%.3f,\"elapsed_s\":%.3f,"
           "\"batch_ms\":%ld,\"reads\":%llu,\"wakeups\":%llu}\n",
           (unsigned long long)icy_blocks, (unsigned long long)icy_titles,
           (unsigned long long)bytes, (unsigned long long)audio, metaint, cpu, cpu_win, o_dur,
           (double)(t_done - g_t0) / 1e9, o_batch_ms, (unsigned long long)reads,
           (unsigned long long)wakeups);
    fflush(stdout);
    if (o_stall_dump) {
        FILE *f = fopen(o_stall_dump, "w");
        if (f) {
            fprintf(f, "window_start_ms %lld windows %d\n", (long long)g_ws_realtime_ms, g_nwin);
            for (long i = 0; i < o_n; i++) {
                conn *c = &g_conns[i];
                if (!c->stall_mask || c->slow) continue;
                fprintf(f, "%u", c->lport);
                for (int k = 0; k < 64; k++)
                    if (c->stall_mask & ((uint64_t)1 << k)) fprintf(f, " %d", k);
                fprintf(f, "\n");
            }
            fclose(f);
        }
    }
    for (int t = 0; t < o_threads; t++) free(ws[t].buf);
    free(v);
    free(v2);
    free(v3);
    free(ws);
    free(th);
    free(g_tstats);
    free(g_conns);
    for (long k = 0; k < g_nreq; k++) free(g_reqs[k]);
    free(g_reqs);
    free(g_req_lens);
    return 0;
}
