/* Minimal C fanotify reader: the floor that fanotifyd is measured against (test/bench/run.ts).
 *
 * usage: floor-reader fd|fid MARK_PATH OUTPUT_FILE
 *
 * Places ONE filesystem mark (FAN_MARK_FILESYSTEM) on MARK_PATH with the same masks as fanotifyd:
 *   fd   FAN_CLASS_NOTIF; MODIFY|CLOSE_WRITE|OPEN|ONDIR|EVENT_ON_CHILD;
 *        path = readlink(/proc/self/fd/N), then close(N).
 *   fid  FAN_CLASS_NOTIF|FAN_REPORT_FID|FAN_REPORT_DFID_NAME;
 *        MODIFY|CLOSE_WRITE|OPEN|CREATE|DELETE|MOVED_FROM|MOVED_TO|ATTRIB|MOVE_SELF|DELETE_SELF|RENAME
 *        |ONDIR|EVENT_ON_CHILD; path = readlink of open_by_handle_at(mount fd, handle, O_PATH),
 *        plus "/" + name when the record has one. Like fanotifyd, directory handles are cached (one
 *        entry: the last directory resolved), and the cache is dropped when a directory is moved or
 *        deleted.
 * Writes one line per event to OUTPUT_FILE with buffered stdio, flushed after every drained read
 * batch (so lag is comparable with a daemon that writes per batch):
 *   {"ts_ns":T,"mask":M,"pid":P,"path":"..."}      T = CLOCK_REALTIME ns of the read() that got it
 *   {"overflow":1,"ts_ns":T}                       for FAN_Q_OVERFLOW
 * No JSON escaping, no comm/exe attribution: this is a floor, not a daemon.
 * FLOOR_PIDFD=1 in the environment adds FAN_REPORT_PIDFD (each record's pidfd is closed, nothing
 * else is done with it): the kernel's own cost of pidfds, the floor for `--process-details`.
 * Prints "ready" on stderr once the mark is in place. On SIGTERM/SIGINT: flushes, prints
 * "events=N overflows=K" on stderr, exits 0. Events caused by this process itself are skipped.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef FAN_REPORT_PIDFD
#define FAN_REPORT_PIDFD 0x00000080
#endif
#ifndef FAN_EVENT_INFO_TYPE_PIDFD
#define FAN_EVENT_INFO_TYPE_PIDFD 4
struct fanotify_event_info_pidfd {
  struct fanotify_event_info_header hdr;
  int32_t pidfd;
};
#endif
#ifndef FAN_REPORT_DFID_NAME
#define FAN_REPORT_DIR_FID 0x00000400
#define FAN_REPORT_NAME 0x00000800
#define FAN_REPORT_DFID_NAME (FAN_REPORT_DIR_FID | FAN_REPORT_NAME)
#endif
#ifndef FAN_RENAME
#define FAN_RENAME 0x10000000
#endif
#ifndef FAN_EVENT_INFO_TYPE_DFID_NAME
#define FAN_EVENT_INFO_TYPE_DFID_NAME 2
#define FAN_EVENT_INFO_TYPE_DFID 3
#endif
#ifndef FAN_EVENT_INFO_TYPE_OLD_DFID_NAME
#define FAN_EVENT_INFO_TYPE_OLD_DFID_NAME 10
#define FAN_EVENT_INFO_TYPE_NEW_DFID_NAME 12
#endif

static volatile sig_atomic_t stop_flag = 0;
static void on_signal(int sig) { (void)sig; stop_flag = 1; }

static int mount_fd = -1;
static unsigned char cache_handle[MAX_HANDLE_SZ + sizeof(struct file_handle)];
static unsigned cache_len = 0; /* 0 = empty */
static char cache_path[PATH_MAX];
static size_t cache_path_len = 0;

/* readlink of /proc/self/fd/N into out; returns length or -1. */
static ssize_t fd_path(int fd, char *out, size_t cap) {
  char link[64];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, out, cap - 1);
  if (n < 0) return -1;
  out[n] = 0;
  return n;
}

/* Path behind a struct file_handle; dir handles use the one-entry cache. Returns length or -1. */
static ssize_t handle_path(struct file_handle *fh, int is_dir, char *out, size_t cap) {
  unsigned len = (unsigned)sizeof(struct file_handle) + fh->handle_bytes;
  if (len > sizeof cache_handle) return -1;
  if (is_dir && cache_len == len && memcmp(cache_handle, fh, len) == 0) {
    memcpy(out, cache_path, cache_path_len + 1);
    return (ssize_t)cache_path_len;
  }
  int fd = open_by_handle_at(mount_fd, fh, O_PATH | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = fd_path(fd, out, cap);
  close(fd);
  if (n >= 0 && is_dir && (size_t)n < sizeof cache_path) {
    memcpy(cache_handle, fh, len);
    cache_len = len;
    memcpy(cache_path, out, (size_t)n + 1);
    cache_path_len = (size_t)n;
  }
  return n;
}

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv) {
  if (argc != 4 || (strcmp(argv[1], "fd") != 0 && strcmp(argv[1], "fid") != 0)) {
    fprintf(stderr, "usage: %s fd|fid MARK_PATH OUTPUT_FILE\n", argv[0]);
    return 2;
  }
  int fid = strcmp(argv[1], "fid") == 0;
  const char *mark_path = argv[2];
  FILE *out = fopen(argv[3], "a");
  if (!out) { perror(argv[3]); return 1; }
  static char outbuf[1 << 20];
  setvbuf(out, outbuf, _IOFBF, sizeof outbuf);

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal; /* no SA_RESTART */
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sigset_t block, orig;
  sigemptyset(&block);
  sigaddset(&block, SIGTERM);
  sigaddset(&block, SIGINT);
  sigprocmask(SIG_BLOCK, &block, &orig); /* delivered only inside ppoll: no lost wake-up */

  unsigned init_flags = FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK;
  uint64_t mask = FAN_MODIFY | FAN_CLOSE_WRITE | FAN_OPEN | FAN_ONDIR | FAN_EVENT_ON_CHILD;
  if (fid) {
    init_flags |= FAN_REPORT_FID | FAN_REPORT_DFID_NAME;
    mask |= FAN_CREATE | FAN_DELETE | FAN_MOVED_FROM | FAN_MOVED_TO | FAN_ATTRIB | FAN_MOVE_SELF |
            FAN_DELETE_SELF | FAN_RENAME;
    /* Opened before marking: not an event (and our own events are skipped anyway). */
    mount_fd = open(mark_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (mount_fd < 0) { perror(mark_path); return 1; }
  }
  const char *want_pidfd = getenv("FLOOR_PIDFD");
  if (want_pidfd && strcmp(want_pidfd, "1") == 0) init_flags |= FAN_REPORT_PIDFD;
  int fan = fanotify_init(init_flags, O_RDONLY | O_LARGEFILE | O_CLOEXEC);
  if (fan < 0) { perror("fanotify_init"); return 1; }
  if (fanotify_mark(fan, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, mask, AT_FDCWD, mark_path) != 0) {
    perror("fanotify_mark");
    return 1;
  }
  fprintf(stderr, "ready\n");

  pid_t self = getpid();
  static char buf[256 * 1024] __attribute__((aligned(8)));
  char path[PATH_MAX + NAME_MAX + 2];
  unsigned long long events = 0, overflows = 0;
  struct pollfd pfd = {.fd = fan, .events = POLLIN};

  while (!stop_flag) {
    int pr = ppoll(&pfd, 1, NULL, &orig);
    if (pr < 0) {
      if (errno == EINTR) continue;
      perror("ppoll");
      break;
    }
    /* Bounded drain, so a pending SIGTERM is seen (in ppoll) even under a flood. */
    for (int reads = 0; reads < 64; reads++) {
      ssize_t n = read(fan, buf, sizeof buf);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN) perror("read");
        break;
      }
      if (n == 0) break;
      long long ts = now_ns();
      struct fanotify_event_metadata *m = (struct fanotify_event_metadata *)buf;
      for (; FAN_EVENT_OK(m, n); m = FAN_EVENT_NEXT(m, n)) {
        if (m->vers != FANOTIFY_METADATA_VERSION) { fprintf(stderr, "bad metadata version\n"); return 1; }
        if (m->mask & FAN_Q_OVERFLOW) {
          overflows++;
          fprintf(out, "{\"overflow\":1,\"ts_ns\":%lld}\n", ts);
          continue;
        }
        if (init_flags & FAN_REPORT_PIDFD) {
          char *q = (char *)m + m->metadata_len, *qend = (char *)m + m->event_len;
          while (q + sizeof(struct fanotify_event_info_header) <= qend) {
            struct fanotify_event_info_header *h = (struct fanotify_event_info_header *)q;
            if (h->len == 0) break;
            if (h->info_type == FAN_EVENT_INFO_TYPE_PIDFD) {
              int pfd = ((struct fanotify_event_info_pidfd *)q)->pidfd;
              if (pfd >= 0) close(pfd);
            }
            q += h->len;
          }
        }
        if (m->pid == self) {
          if (m->fd >= 0) close(m->fd);
          continue;
        }
        ssize_t plen = -1;
        if (!fid) {
          if (m->fd >= 0) {
            plen = fd_path(m->fd, path, sizeof path);
            close(m->fd);
          }
        } else {
          if ((m->mask & FAN_ONDIR) &&
              (m->mask & (FAN_MOVED_FROM | FAN_MOVED_TO | FAN_RENAME | FAN_MOVE_SELF | FAN_DELETE | FAN_DELETE_SELF)))
            cache_len = 0;
          /* First record that carries a name; else the first file handle record. */
          struct fanotify_event_info_fid *pick = NULL;
          const char *name = NULL;
          char *p = (char *)(m + 1), *end = (char *)m + m->event_len;
          while (p + sizeof(struct fanotify_event_info_header) <= end) {
            struct fanotify_event_info_header *h = (struct fanotify_event_info_header *)p;
            if (h->len == 0) break;
            int t = h->info_type;
            if (t == FAN_EVENT_INFO_TYPE_DFID_NAME || t == FAN_EVENT_INFO_TYPE_OLD_DFID_NAME ||
                t == FAN_EVENT_INFO_TYPE_NEW_DFID_NAME) {
              pick = (struct fanotify_event_info_fid *)p;
              struct file_handle *fh = (struct file_handle *)pick->handle;
              name = (const char *)fh->f_handle + fh->handle_bytes;
              break;
            }
            if (!pick && (t == FAN_EVENT_INFO_TYPE_FID || t == FAN_EVENT_INFO_TYPE_DFID))
              pick = (struct fanotify_event_info_fid *)p;
            p += h->len;
          }
          if (pick) {
            struct file_handle *fh = (struct file_handle *)pick->handle;
            int dir_handle = name != NULL || pick->hdr.info_type == FAN_EVENT_INFO_TYPE_DFID ||
                             (m->mask & FAN_ONDIR);
            plen = handle_path(fh, dir_handle, path, sizeof path - NAME_MAX - 1);
            if (plen >= 0 && name && name[0] && strcmp(name, ".") != 0) {
              size_t nl = strlen(name);
              if ((size_t)plen + 1 + nl < sizeof path) {
                path[plen] = '/';
                memcpy(path + plen + 1, name, nl + 1);
                plen += 1 + (ssize_t)nl;
              }
            }
          }
        }
        events++;
        fprintf(out, "{\"ts_ns\":%lld,\"mask\":%llu,\"pid\":%d,\"path\":\"%s\"}\n", ts,
                (unsigned long long)m->mask, (int)m->pid, plen >= 0 ? path : "<unresolved>");
      }
    }
    fflush(out);
  }
  fflush(out);
  fclose(out);
  fprintf(stderr, "events=%llu overflows=%llu\n", events, overflows);
  return 0;
}
