/* The design's thread model in C, as a floor for what the architecture itself costs (README
 * "Performance", issue 11 seventh pass): a reader thread answers OPEN_PERM/ACCESS_PERM on a filesystem
 * mark of PATH (answer first with ANSWER_FIRST=1, as fanotifyd does (behavior.md B5); else after the
 * readlink, as perm-responder.c), reads the path, closes the fd and appends a row per OPEN_PERM to a
 * batch; a batch goes to the main thread (eventfd) when 4096 rows or 2 ms old; the main thread
 * encodes the JSONL lines and hands them to a writer thread (one write in flight, completion signalled
 * back through an eventfd), like Bun's I/O pool. Not part of the default bench run.
 * build: cc -O2 -pthread -o perm-responder-mt perm-responder-mt.c
 * usage: [ANSWER_FIRST=1] perm-responder-mt PATH OUTFILE   (prints "started" on stderr once marked)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/fanotify.h>
#include <time.h>
#include <unistd.h>

#define MAXROWS 4096
struct row { uint64_t ts; uint32_t pid; uint32_t mask; char path[256]; };
struct batch { int n; struct batch *next; struct row rows[MAXROWS]; };

static int answer_first;
static int fan, ev_batch, ev_wdone, ev_wgo;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct batch *q_head, *q_tail, *freelist;
static char *wbuf; static size_t wlen; static int outfd;

static uint64_t mono_ms(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1000ull + t.tv_nsec / 1000000; }
static uint64_t real_ms(void) { struct timespec t; clock_gettime(CLOCK_REALTIME, &t); return t.tv_sec * 1000ull + t.tv_nsec / 1000000; }
static void sig(int fd) { uint64_t one = 1; if (write(fd, &one, 8) != 8) perror("eventfd"); }
static void drain(int fd) { uint64_t v; if (read(fd, &v, 8) < 0 && errno != EAGAIN) perror("eventfd read"); }

static struct batch *get_batch(void) {
  pthread_mutex_lock(&mu); struct batch *b = freelist; if (b) freelist = b->next; pthread_mutex_unlock(&mu);
  if (!b) b = malloc(sizeof *b);
  b->n = 0; b->next = NULL; return b;
}
static void post(struct batch *b) {
  pthread_mutex_lock(&mu); if (q_tail) q_tail->next = b; else q_head = b; q_tail = b; pthread_mutex_unlock(&mu);
  sig(ev_batch);
}

static void *reader(void *arg) {
  (void)arg;
  static char buf[65536] __attribute__((aligned(8)));
  char link[64];
  struct batch *b = get_batch(); uint64_t first = 0;
  struct pollfd p = {.fd = fan, .events = POLLIN};
  for (;;) {
    int timeout = -1;
    if (b->n > 0) { uint64_t age = mono_ms() - first; timeout = age >= 2 ? 0 : (int)(2 - age); }
    int r = poll(&p, 1, timeout);
    if (r > 0) {
      for (;;) {
        ssize_t len = read(fan, buf, sizeof buf);
        if (len <= 0) break;
        struct fanotify_event_metadata *m = (struct fanotify_event_metadata *)buf;
        for (; FAN_EVENT_OK(m, len); m = FAN_EVENT_NEXT(m, len)) {
          if (m->fd < 0) continue;
          struct row *w = &b->rows[b->n];
          struct fanotify_response resp = {.fd = m->fd, .response = FAN_ALLOW};
          if (answer_first && write(fan, &resp, sizeof resp) != sizeof resp) perror("response");
          snprintf(link, sizeof link, "/proc/self/fd/%d", m->fd);
          ssize_t k = readlink(link, w->path, sizeof w->path - 1);
          w->path[k < 0 ? 0 : k] = 0;
          if (!answer_first && write(fan, &resp, sizeof resp) != sizeof resp) perror("response");
          close(m->fd);
          if (m->mask & FAN_OPEN_PERM) {
            w->ts = real_ms(); w->pid = m->pid; w->mask = 32;
            if (b->n++ == 0) first = mono_ms();
            if (b->n == MAXROWS) { post(b); b = get_batch(); }
          }
        }
        if (b->n > 0 && mono_ms() - first >= 2) break;
      }
    }
    if (b->n > 0 && mono_ms() - first >= 2) { post(b); b = get_batch(); }
  }
  return NULL;
}

static void *writer(void *arg) {
  (void)arg;
  struct pollfd p = {.fd = ev_wgo, .events = POLLIN};
  for (;;) {
    poll(&p, 1, -1); drain(ev_wgo);
    size_t off = 0;
    while (off < wlen) { ssize_t n = write(outfd, wbuf + off, wlen - off); if (n <= 0) { perror("write"); break; } off += n; }
    sig(ev_wdone);
  }
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 3) { fprintf(stderr, "usage: %s PATH OUTFILE\n", argv[0]); return 2; }
  answer_first = getenv("ANSWER_FIRST") != NULL;
  fan = fanotify_init(FAN_CLOEXEC | FAN_NONBLOCK | FAN_CLASS_CONTENT, O_RDONLY | O_LARGEFILE | O_CLOEXEC);
  if (fan < 0) { perror("fanotify_init"); return 1; }
  if (fanotify_mark(fan, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, FAN_OPEN_PERM | FAN_ACCESS_PERM, AT_FDCWD, argv[1]) != 0) { perror("fanotify_mark"); return 1; }
  outfd = open(argv[2], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  ev_batch = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); ev_wdone = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); ev_wgo = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  size_t cap = 8 << 20; char *enc = malloc(cap); size_t enclen = 0; wbuf = malloc(cap); int inflight = 0;
  pthread_t tr, tw; pthread_create(&tr, NULL, reader, NULL); pthread_create(&tw, NULL, writer, NULL);
  fprintf(stderr, "started\n");
  struct pollfd p[2] = {{.fd = ev_batch, .events = POLLIN}, {.fd = ev_wdone, .events = POLLIN}};
  for (;;) {
    poll(p, 2, -1);
    if (p[1].revents) { drain(ev_wdone); inflight = 0; }
    if (p[0].revents) {
      drain(ev_batch);
      for (;;) {
        pthread_mutex_lock(&mu); struct batch *b = q_head; if (b) { q_head = b->next; if (!q_head) q_tail = NULL; } pthread_mutex_unlock(&mu);
        if (!b) break;
        for (int i = 0; i < b->n; i++) {
          struct row *w = &b->rows[i];
          if (enclen + 600 > cap) break; /* drop (not in the bench) */
          enclen += snprintf(enc + enclen, 600, "{\"schema_version\":1,\"type\":\"event\",\"ts_ms\":%llu,\"mask\":%u,\"events\":\"OPEN\",\"decision\":\"observe\",\"job_id\":null,\"path_role\":null,\"pid\":%u,\"path\":\"%s\",\"is_dir\":false}\n",
                             (unsigned long long)w->ts, w->mask, w->pid, w->path);
        }
        pthread_mutex_lock(&mu); b->next = freelist; freelist = b; pthread_mutex_unlock(&mu);
      }
    }
    if (!inflight && enclen > 0) { char *t = wbuf; wbuf = enc; enc = t; wlen = enclen; enclen = 0; inflight = 1; sig(ev_wgo); }
  }
}
