/* fnmatch(3) oracle for test/unit/policy-canary.test.ts.
 *
 * Reads lines "<pattern hex> <path hex>\n" from stdin (hex so any byte, including '\n', ' ' and
 * bytes >= 0x80, survives) and prints one line per pair: "1" if fnmatch(pattern, path, FNM_PATHNAME)
 * returns 0, "0" otherwise. No setlocale() call: like the reference daemon, it runs in the "C" locale,
 * so '?' and bracket expressions match single bytes.
 */
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Decodes hex in place; returns 0 on success. */
static int unhex(char *s) {
  size_t n = strlen(s);
  if (n % 2 != 0) return -1;
  for (size_t i = 0; i < n; i += 2) {
    int hi = hexval((unsigned char)s[i]), lo = hexval((unsigned char)s[i + 1]);
    if (hi < 0 || lo < 0) return -1;
    s[i / 2] = (char)(hi * 16 + lo);
  }
  s[n / 2] = '\0';
  return 0;
}

int main(void) {
  static char line[65536];
  while (fgets(line, sizeof line, stdin) != NULL) {
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = '\0';
    if (n == 0) continue;
    char *sp = strchr(line, ' ');
    if (sp == NULL) {
      fprintf(stderr, "bad line: %s\n", line);
      return 2;
    }
    *sp = '\0';
    char *pat = line, *path = sp + 1;
    if (unhex(pat) != 0 || unhex(path) != 0) {
      fprintf(stderr, "bad hex\n");
      return 2;
    }
    puts(fnmatch(pat, path, FNM_PATHNAME) == 0 ? "1" : "0");
  }
  return 0;
}
