/* The practical floor for permission latency: a minimal C fanotify responder that allows every
 * OPEN_PERM/ACCESS_PERM on a filesystem mark of PATH, reading the path of each event like a real
 * daemon (readlink /proc/self/fd/N) and writing nothing.
 * usage: perm-responder PATH   (prints "ready" on stderr once marked; exits on SIGTERM/SIGINT)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/fanotify.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static void on_signal(int s) { (void)s; stop = 1; }

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s PATH\n", argv[0]);
    return 2;
  }
  struct sigaction sa = {0};
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  int fan = fanotify_init(FAN_CLOEXEC | FAN_NONBLOCK | FAN_CLASS_CONTENT, O_RDONLY | O_LARGEFILE | O_CLOEXEC);
  if (fan < 0) { perror("fanotify_init"); return 1; }
  if (fanotify_mark(fan, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, FAN_OPEN_PERM | FAN_ACCESS_PERM, AT_FDCWD, argv[1]) != 0) {
    perror("fanotify_mark");
    return 1;
  }
  fprintf(stderr, "ready\n");
  static char buf[65536] __attribute__((aligned(8)));
  char link[64], path[4096];
  unsigned long n_events = 0;
  struct pollfd p = {.fd = fan, .events = POLLIN};
  while (!stop) {
    if (poll(&p, 1, 200) <= 0) continue;
    for (;;) {
      ssize_t len = read(fan, buf, sizeof buf);
      if (len <= 0) break;
      struct fanotify_event_metadata *m = (struct fanotify_event_metadata *)buf;
      for (; FAN_EVENT_OK(m, len); m = FAN_EVENT_NEXT(m, len)) {
        if (m->fd < 0) continue;
        snprintf(link, sizeof link, "/proc/self/fd/%d", m->fd);
        if (readlink(link, path, sizeof path) < 0) path[0] = 0;
        if (m->mask & (FAN_OPEN_PERM | FAN_ACCESS_PERM)) {
          struct fanotify_response r = {.fd = m->fd, .response = FAN_ALLOW};
          if (write(fan, &r, sizeof r) != sizeof r) perror("response");
        }
        close(m->fd);
        n_events++;
      }
    }
  }
  fprintf(stderr, "events=%lu\n", n_events);
  return 0;
}
