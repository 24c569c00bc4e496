/*
 * The receiving end of bench/cluster.py: thousands of Phoenix V2 WebSocket clients in one
 * C process, cheap enough per frame that the servers under test, not the load generator,
 * set the pace on a machine the two share.
 *
 *   fanout_sink HOST TOPIC QUERY PORT:COUNT [PORT:COUNT ...]
 *
 * Connects COUNT clients to each PORT (GET /socket/websocket?QUERY&user=uN), each joining
 * TOPIC, and prints one JSON line: {"joined": N, "failed": M}. Then it counts the fan-out
 * broadcasts
 *
 *   [null,null,"<TOPIC>","shout",{"o":ORIGIN,"seq":SEQ,"t":NS,"x_pad":"..."}]
 *
 * where NS is when the broadcast was due (CLOCK_MONOTONIC, one clock for the whole
 * machine): its delivery latency is "now - NS". Each PORT is one origin of the feed: with K
 * ports, origin O sends seqs O, O+K, O+2K... Each client checks that the seqs of each origin
 * arrive in order, once. Commands on stdin, one per line, each answered with one JSON line
 * on stdout:
 *
 *   mark     start counting afresh (the next feed starts again from seq 0)
 *   stats    what arrived since the mark: deliveries, duplicates, gaps, latency
 *            percentiles, first and last arrival (monotonic ns), clients closed, own CPU
 *   quit
 *
 * Every client sends a Phoenix heartbeat every 20 s, as phoenix.js does (30 s), so no
 * server's idle timeout closes it. When few sockets were readable, the loop pauses
 * SINK_PACE_US (1000 µs) before looking again, so that frames gather: a latency figure a
 * millisecond high at most, for far fewer wake-ups. Built by bench/cluster.py with `cc -O2`.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_ORIGINS 8
#define BUCKET_NS 100000ULL /* latency histogram: 0.1 ms buckets */
#define BUCKETS 600000      /* up to 60 s */
#define READ_SIZE (256 * 1024)
#define HEARTBEAT_NS (20ULL * 1000000000ULL)
#define BATCH 500 /* clients connecting at a time */
#define PACE_BATCH 256 /* fewer ready sockets than this: pause for pace_us first */

enum state { HANDSHAKING, JOINING, JOINED, CLOSED };

struct client {
    int fd;
    enum state state;
    unsigned char *carry; /* bytes of an incomplete frame (or handshake) */
    size_t carry_len;
    long long next_seq[MAX_ORIGINS];
};

static struct client *clients;
static int client_count, origins = 1;
static char prefix[512], join_frame[256];
static size_t prefix_len;
static unsigned char read_buffer[READ_SIZE + 65536];
static uint32_t histogram[BUCKETS];
static uint64_t delivered, duplicates, gaps, other_frames, closed_clients;
static uint64_t first_ns, last_ns, max_ns;
static int epoll_fd;
static long pace_us = 1000; /* SINK_PACE_US */

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static double cpu_seconds(void) {
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6 + usage.ru_stime.tv_sec +
           usage.ru_stime.tv_usec / 1e6;
}

/* A masked client frame (mask 0: the payload goes as it is). */
static void send_text(struct client *c, const char *text) {
    unsigned char frame[256];
    size_t len = strlen(text);
    if (len > 125 || c->state == CLOSED) return;
    frame[0] = 0x81;
    frame[1] = 0x80 | (unsigned char)len;
    memset(frame + 2, 0, 4);
    memcpy(frame + 6, text, len);
    if (write(c->fd, frame, len + 6) < 0 && errno != EAGAIN) c->state = CLOSED;
}

static void close_client(struct client *c) {
    if (c->state == CLOSED) return;
    if (c->state == JOINED) closed_clients++;
    c->state = CLOSED;
    epoll_ctl(epoll_fd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
}

static long long parse_int(const unsigned char *p, const unsigned char *end,
                           const unsigned char **after) {
    long long value = 0;
    while (p < end && *p >= '0' && *p <= '9') value = value * 10 + (*p++ - '0');
    *after = p;
    return value;
}

static const unsigned char *find(const unsigned char *p, const unsigned char *end,
                                 const char *needle) {
    size_t n = strlen(needle);
    if ((size_t)(end - p) < n) return NULL;
    return memmem(p, (size_t)(end - p), needle, n);
}

static void on_text(struct client *c, const unsigned char *data, size_t len, uint64_t now) {
    const unsigned char *end = data + len;
    if (len > prefix_len && memcmp(data, prefix, prefix_len) == 0) {
        const unsigned char *p = data + prefix_len, *after;
        long long origin = 0, seq, sent;
        if (p + 4 < end && memcmp(p, "\"o\":", 4) == 0) {
            origin = parse_int(p + 4, end, &after);
            p = after + 1;
        }
        p = find(p, end, "\"seq\":");
        if (p == NULL) return;
        seq = parse_int(p + 6, end, &after);
        p = find(after, end, "\"t\":");
        if (p == NULL) return;
        sent = parse_int(p + 4, end, &after);
        if (origin < 0 || origin >= MAX_ORIGINS) origin = 0;
        if (seq < c->next_seq[origin]) {
            duplicates++;
        } else {
            if (seq != c->next_seq[origin]) gaps++;
            c->next_seq[origin] = seq + origins;
        }
        uint64_t latency = now > (uint64_t)sent ? now - (uint64_t)sent : 0;
        uint64_t bucket = latency / BUCKET_NS;
        histogram[bucket < BUCKETS ? bucket : BUCKETS - 1]++;
        if (latency > max_ns) max_ns = latency;
        if (!first_ns) first_ns = now;
        last_ns = now;
        delivered++;
        return;
    }
    other_frames++;
    if (c->state == JOINING && find(data, end, "\"phx_reply\"") != NULL) {
        c->state = find(data, end, "\"status\":\"ok\"") != NULL ? JOINED : CLOSED;
    }
}

/* Frames from the server (never masked). Returns how many bytes were used. */
static size_t on_frames(struct client *c, unsigned char *data, size_t len, uint64_t now) {
    size_t used = 0;
    while (len - used >= 2) {
        unsigned char *p = data + used;
        unsigned opcode = p[0] & 0x0f;
        uint64_t size = p[1] & 0x7f;
        size_t header = 2;
        if (size == 126) {
            if (len - used < 4) break;
            size = ((uint64_t)p[2] << 8) | p[3];
            header = 4;
        } else if (size == 127) {
            if (len - used < 10) break;
            size = 0;
            for (int i = 0; i < 8; i++) size = (size << 8) | p[2 + i];
            header = 10;
        }
        if (len - used < header + size) break;
        if (opcode == 1 || opcode == 2) {
            on_text(c, p + header, size, now);
        } else if (opcode == 9) { /* ping: pong, masked with 0 */
            unsigned char pong[6 + 125];
            if (size <= 125) {
                pong[0] = 0x8a;
                pong[1] = 0x80 | (unsigned char)size;
                memset(pong + 2, 0, 4);
                memcpy(pong + 6, p + header, size);
                if (write(c->fd, pong, size + 6) < 0) {}
            }
        } else if (opcode == 8) {
            close_client(c);
            return len;
        }
        used += header + size;
    }
    return used;
}

static void on_readable(struct client *c) {
    size_t have = c->carry_len;
    if (have > sizeof(read_buffer) - READ_SIZE) { /* a frame bigger than we read: drop */
        close_client(c);
        return;
    }
    memcpy(read_buffer, c->carry, have);
    ssize_t n = read(c->fd, read_buffer + have, READ_SIZE);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        close_client(c);
        return;
    }
    if (n < 0) return;
    size_t len = have + (size_t)n, used = 0;
    uint64_t now = now_ns();
    if (c->state == HANDSHAKING) {
        unsigned char *end = memmem(read_buffer, len, "\r\n\r\n", 4);
        if (end == NULL) {
            used = 0;
        } else {
            if (len < 12 || memcmp(read_buffer + 9, "101", 3) != 0) {
                close_client(c);
                return;
            }
            used = (size_t)(end - read_buffer) + 4;
            c->state = JOINING;
            send_text(c, join_frame);
        }
    }
    if (c->state != HANDSHAKING && c->state != CLOSED)
        used += on_frames(c, read_buffer + used, len - used, now);
    if (c->state == CLOSED) return;
    size_t rest = len - used;
    if (rest != c->carry_len || rest) {
        unsigned char *carry = realloc(c->carry, rest ? rest : 1);
        if (carry == NULL) {
            close_client(c);
            return;
        }
        c->carry = carry;
        memcpy(c->carry, read_buffer + used, rest);
    }
    c->carry_len = rest;
}

static int open_client(struct client *c, const char *host, int port, const char *query,
                       int index) {
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, host, &address.sin_addr);
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c->fd < 0) return -1;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c->fd, (struct sockaddr *)&address, sizeof address) < 0) {
        close(c->fd);
        return -1;
    }
    char request[1024];
    int len = snprintf(request, sizeof request,
                       "GET /socket/websocket?%s&user=u%d HTTP/1.1\r\n"
                       "Host: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                       "Sec-WebSocket-Version: 13\r\n\r\n",
                       query, index, host, port);
    if (write(c->fd, request, (size_t)len) != len) {
        close(c->fd);
        return -1;
    }
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
    c->state = HANDSHAKING;
    struct epoll_event event = {.events = EPOLLIN, .data.ptr = c};
    epoll_ctl(epoll_fd, EPOLL_CTL_ADD, c->fd, &event);
    return 0;
}

/* Handles what is readable; returns how many sockets were, and sets *command when stdin
 * has a line for the caller. */
static int poll_once(int timeout_ms, int *command) {
    struct epoll_event events[1024];
    int n = epoll_wait(epoll_fd, events, 1024, timeout_ms);
    for (int i = 0; i < n; i++) {
        if (events[i].data.ptr == NULL) {
            if (command != NULL) *command = 1;
            continue;
        }
        on_readable(events[i].data.ptr);
    }
    return n;
}

static int stdin_ready(void) {
    struct timeval zero = {0, 0};
    fd_set set;
    FD_ZERO(&set);
    FD_SET(0, &set);
    return select(1, &set, NULL, NULL, &zero) > 0;
}

static uint64_t percentile(double fraction) {
    if (!delivered) return 0;
    uint64_t rank = (uint64_t)(fraction * (double)delivered), seen = 0;
    if (rank == 0) rank = 1;
    for (int b = 0; b < BUCKETS; b++) {
        seen += histogram[b];
        if (seen >= rank) return (uint64_t)b * BUCKET_NS + BUCKET_NS / 2;
    }
    return (uint64_t)(BUCKETS - 1) * BUCKET_NS;
}

static void mark(void) {
    for (int i = 0; i < client_count; i++)
        for (int o = 0; o < MAX_ORIGINS; o++) clients[i].next_seq[o] = o;
    memset(histogram, 0, sizeof histogram);
    delivered = duplicates = gaps = other_frames = closed_clients = 0;
    first_ns = last_ns = max_ns = 0;
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: %s HOST TOPIC QUERY PORT:COUNT...\n", argv[0]);
        return 2;
    }
    const char *host = argv[1], *topic = argv[2], *query = argv[3];
    if (getenv("SINK_PACE_US") != NULL) pace_us = atol(getenv("SINK_PACE_US"));
    prefix_len = (size_t)snprintf(prefix, sizeof prefix, "[null,null,\"%s\",\"shout\",{", topic);
    snprintf(join_frame, sizeof join_frame, "[\"1\",\"1\",\"%s\",\"phx_join\",{}]", topic);
    for (int i = 4; i < argc; i++) client_count += atoi(strchr(argv[i], ':') + 1);
    origins = argc - 4;
    if (origins > MAX_ORIGINS) {
        fprintf(stderr, "at most %d ports\n", MAX_ORIGINS);
        return 2;
    }
    clients = calloc((size_t)client_count, sizeof *clients);
    epoll_fd = epoll_create1(0);
    struct epoll_event in = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(epoll_fd, EPOLL_CTL_ADD, 0, &in);

    int index = 0, failed = 0;
    for (int i = 4; i < argc; i++) {
        int port = atoi(argv[i]), count = atoi(strchr(argv[i], ':') + 1);
        for (int k = 0; k < count; k += BATCH) {
            int start = index;
            for (int j = k; j < count && j < k + BATCH; j++, index++)
                if (open_client(&clients[index], host, port, query, index) < 0) {
                    clients[index].state = CLOSED;
                    failed++;
                }
            uint64_t deadline = now_ns() + 60ULL * 1000000000ULL;
            for (;;) {
                int pending = 0;
                for (int j = start; j < index; j++)
                    pending += clients[j].state == HANDSHAKING || clients[j].state == JOINING;
                if (!pending || now_ns() > deadline) break;
                poll_once(50, NULL);
            }
        }
    }
    int joined = 0;
    for (int i = 0; i < client_count; i++) joined += clients[i].state == JOINED;
    printf("{\"joined\": %d, \"failed\": %d}\n", joined, client_count - joined);
    fflush(stdout);
    mark();

    uint64_t next_heartbeat = now_ns() + HEARTBEAT_NS;
    char line[256];
    for (;;) {
        int command = 0, ready = poll_once(100, &command);
        uint64_t now = now_ns();
        if (now >= next_heartbeat) {
            for (int i = 0; i < client_count; i++)
                send_text(&clients[i], "[null,\"hb\",\"phoenix\",\"heartbeat\",{}]");
            next_heartbeat = now + HEARTBEAT_NS;
        }
        if (!command && ready < PACE_BATCH && pace_us > 0) {
            /* Few sockets had anything: let frames gather for a moment rather than wake
             * for every one (each wake-up costs this process and the sender a few µs). */
            struct timespec pause = {0, pace_us * 1000L};
            nanosleep(&pause, NULL);
        }
        if (!command || !stdin_ready()) continue;
        if (fgets(line, sizeof line, stdin) == NULL || strncmp(line, "quit", 4) == 0) break;
        if (strncmp(line, "mark", 4) == 0) {
            mark();
            printf("{\"ok\": 1}\n");
        } else if (strncmp(line, "stats", 5) == 0) {
            printf("{\"delivered\": %llu, \"duplicates\": %llu, \"gaps\": %llu, "
                   "\"other_frames\": %llu, \"closed\": %llu, \"p50_ns\": %llu, "
                   "\"p99_ns\": %llu, \"max_ns\": %llu, \"first_ns\": %llu, "
                   "\"last_ns\": %llu, \"cpu_s\": %.3f}\n",
                   (unsigned long long)delivered, (unsigned long long)duplicates,
                   (unsigned long long)gaps, (unsigned long long)other_frames,
                   (unsigned long long)closed_clients, (unsigned long long)percentile(0.50),
                   (unsigned long long)percentile(0.99), (unsigned long long)max_ns,
                   (unsigned long long)first_ns, (unsigned long long)last_ns, cpu_seconds());
        } else {
            printf("{\"error\": \"unknown command\"}\n");
        }
        fflush(stdout);
    }
    (void)failed;
    return 0;
}
