/* Load generator for fanotifyd benchmarks and tests.
 * usage: loadgen DIR MODE OPS RATE [TIMES_FILE]
 *   MODE  orc   open+read+close of DIR/f0..f63 (created first)
 *         oc    open+close of DIR/f0..f999 (created first; the issue-11 FD flood)
 *         cwcru create+write+close+rename+unlink of DIR/gN
 *         create create empty files DIR/cN (left in place)
 *   OPS   number of operations
 *   RATE  operations per second, 0 = as fast as possible
 *   TIMES_FILE  optional: write the CLOCK_REALTIME ns at the start of every op there, as OPS
 *               native int64 values (test/bench/run.ts uses it for per-event lag)
 * prints: "ops=N secs=S rate=R end_ns=T start_ns=U" (T = CLOCK_REALTIME ns after the last op,
 *         U = CLOCK_REALTIME ns before the first op)
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(clockid_t c) {
  struct timespec ts;
  clock_gettime(c, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv) {
  if (argc != 5 && argc != 6) {
    fprintf(stderr, "usage: %s DIR orc|oc|cwcru|create OPS RATE [TIMES_FILE]\n", argv[0]);
    return 2;
  }
  const char *dir = argv[1], *mode = argv[2];
  long ops = atol(argv[3]);
  double rate = atof(argv[4]);
  char path[4096], path2[4096], buf[64];
  const char *times_file = argc == 6 ? argv[5] : NULL;
  long long *times = NULL;
  if (times_file) {
    times = malloc(sizeof(long long) * (ops > 0 ? ops : 1));
    if (!times) { perror("malloc"); return 1; }
  }
  const int oc = strcmp(mode, "oc") == 0;
  if (strcmp(mode, "orc") == 0 || oc) {
    for (int i = 0; i < (oc ? 1000 : 64); i++) {
      snprintf(path, sizeof path, "%s/f%d", dir, i);
      int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd < 0 || write(fd, "data\n", 5) != 5) { perror(path); return 1; }
      close(fd);
    }
  }
  long long start_rt = now_ns(CLOCK_REALTIME);
  long long start = now_ns(CLOCK_MONOTONIC);
  for (long i = 0; i < ops; i++) {
    if (rate > 0) {
      long long due = start + (long long)(i * 1e9 / rate);
      long long t;
      while ((t = now_ns(CLOCK_MONOTONIC)) < due) {
        if (due - t > 200000) usleep((due - t) / 2000);
      }
    }
    if (times) times[i] = now_ns(CLOCK_REALTIME);
    if (oc) {
      snprintf(path, sizeof path, "%s/f%ld", dir, i % 1000);
      int fd = open(path, O_RDONLY);
      if (fd < 0) { perror(path); return 1; }
      close(fd);
    } else if (mode[0] == 'o') {
      snprintf(path, sizeof path, "%s/f%ld", dir, i & 63);
      int fd = open(path, O_RDONLY);
      if (fd < 0) { perror(path); return 1; }
      if (read(fd, buf, sizeof buf) < 0) { perror("read"); return 1; }
      close(fd);
    } else if (mode[1] == 'w') {
      snprintf(path, sizeof path, "%s/g%ld", dir, i);
      snprintf(path2, sizeof path2, "%s/h%ld", dir, i);
      int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd < 0 || write(fd, "x\n", 2) != 2) { perror(path); return 1; }
      close(fd);
      if (rename(path, path2) != 0 || unlink(path2) != 0) { perror("rename/unlink"); return 1; }
    } else {
      snprintf(path, sizeof path, "%s/c%ld", dir, i);
      int fd = open(path, O_WRONLY | O_CREAT, 0644);
      if (fd < 0) { perror(path); return 1; }
      close(fd);
    }
  }
  long long end = now_ns(CLOCK_MONOTONIC);
  double secs = (end - start) / 1e9;
  long long end_rt = now_ns(CLOCK_REALTIME);
  if (times) {
    FILE *f = fopen(times_file, "w");
    if (!f || fwrite(times, sizeof(long long), (size_t)ops, f) != (size_t)ops || fclose(f) != 0) {
      perror(times_file);
      return 1;
    }
  }
  printf("ops=%ld secs=%.3f rate=%.0f end_ns=%lld start_ns=%lld\n", ops, secs, ops / secs, end_rt, start_rt);
  return 0;
}
