/* Replay driver for the fuzz targets when they are not built with
 * libFuzzer: runs LLVMFuzzerTestOneInput on every file of the target's
 * corpus (or of the paths given as arguments), then on a fixed number of
 * deterministic mutations of those inputs (WFC_FUZZ_ITERATIONS, default
 * 20000). A property violation aborts, which fails the test; the input
 * that did it is left in ./crash-<target>. */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>
#include <libgen.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_INPUTS 256
#define MAX_LEN    4096

static uint8_t *inputs[MAX_INPUTS];
static size_t lens[MAX_INPUTS];
static size_t ninputs;

static void load_file(const char *path) {
  FILE *f = fopen(path, "rb");
  uint8_t *buf;
  size_t n;

  if (f == NULL || ninputs == MAX_INPUTS) {
    if (f != NULL)
      fclose(f);
    return;
  }
  buf = malloc(MAX_LEN);
  if (buf == NULL) {
    fclose(f);
    return;
  }
  n = fread(buf, 1, MAX_LEN, f);
  fclose(f);
  inputs[ninputs] = buf;
  lens[ninputs++] = n;
}

static void load(const char *path) {
  struct stat st;
  struct dirent *de;
  DIR *d;

  if (stat(path, &st) != 0)
    return;
  if (!S_ISDIR(st.st_mode)) {
    load_file(path);
    return;
  }
  d = opendir(path);
  if (d == NULL)
    return;
  while ((de = readdir(d)) != NULL) {
    char full[4096];
    if (de->d_name[0] == '.')
      continue;
    snprintf(full, sizeof full, "%s/%s", path, de->d_name);
    load_file(full);
  }
  closedir(d);
}

/* The input being run, written to ./crash-<target> if it aborts. */
static const uint8_t *current;
static size_t current_len;
static char crash_path[300];

static void on_abort(int sig) {
  int fd = open(crash_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd >= 0) {
    ssize_t w = write(fd, current, current_len);
    (void)w;
    close(fd);
  }
  signal(sig, SIG_DFL);
  raise(sig);
}

static void run(const uint8_t *data, size_t n) {
  current = data;
  current_len = n;
  LLVMFuzzerTestOneInput(data, n);
}

static uint32_t rng = 0x2545f491u;
static uint32_t rnd(void) {
  rng ^= rng << 13;
  rng ^= rng >> 17;
  rng ^= rng << 5;
  return rng;
}

/* Bytes that matter to JSON, UTF-8 and the redactor. */
static const char dict[] = "{}[]\",:\\'0123456789-+.eE tfn\r\n\t=&@?"
                           "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xff\x80";

static size_t mutate(uint8_t *buf, size_t n) {
  int rounds = 1 + (int)(rnd() % 4);
  for (int r = 0; r < rounds; r++) {
    size_t at = n ? rnd() % n : 0;
    switch (rnd() % 6) {
    case 0: /* flip a bit */
      if (n)
        buf[at] ^= (uint8_t)(1u << (rnd() % 8));
      break;
    case 1: /* overwrite with a dictionary byte */
      if (n)
        buf[at] = (uint8_t)dict[rnd() % (sizeof dict - 1)];
      break;
    case 2: /* insert */
      if (n < MAX_LEN) {
        memmove(buf + at + 1, buf + at, n - at);
        buf[at] = rnd() % 8 ? (uint8_t)dict[rnd() % (sizeof dict - 1)]
                            : (uint8_t)(rnd() & 0xff);
        n++;
      }
      break;
    case 3: /* delete a span */
      if (n) {
        size_t len = 1 + rnd() % 8;
        if (len > n - at)
          len = n - at;
        memmove(buf + at, buf + at + len, n - at - len);
        n -= len;
      }
      break;
    case 4: { /* duplicate a span */
      size_t len = 1 + rnd() % 16;
      if (n && len <= n - at && n + len <= MAX_LEN) {
        memmove(buf + at + len, buf + at, n - at);
        n += len;
      }
      break;
    }
    default: { /* splice in the tail of another input */
      size_t k = rnd() % ninputs, from = lens[k] ? rnd() % lens[k] : 0;
      size_t len = lens[k] - from;
      if (at + len > MAX_LEN)
        len = MAX_LEN - at;
      memcpy(buf + at, inputs[k] + from, len);
      n = at + len;
      break;
    }
    }
  }
  return n;
}

int main(int argc, char **argv) {
  const char *src = getenv("WFC_SOURCE_DIR");
  const char *iters_env = getenv("WFC_FUZZ_ITERATIONS");
  long iters = iters_env != NULL ? atol(iters_env) : 20000;
  uint8_t *buf = malloc(MAX_LEN);

  if (argc > 1) {
    for (int i = 1; i < argc; i++)
      load(argv[i]);
  } else if (src != NULL) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/tests/fuzz/corpus/%s", src,
             basename(argv[0]));
    load(dir);
  }
  if (ninputs == 0 || buf == NULL) {
    fprintf(stderr,
            "%s: no corpus found (set WFC_SOURCE_DIR or pass "
            "paths)\n",
            argv[0]);
    return 1;
  }
  snprintf(crash_path, sizeof crash_path, "crash-%s", basename(argv[0]));
  signal(SIGABRT, on_abort);
  for (size_t i = 0; i < ninputs; i++)
    run(inputs[i], lens[i]);
  for (long it = 0; it < iters; it++) {
    size_t k = rnd() % ninputs, n = lens[k];
    memcpy(buf, inputs[k], n);
    n = mutate(buf, n);
    run(buf, n);
  }
  printf("%s: %zu corpus inputs, %ld mutations: ok\n", basename(argv[0]),
         ninputs, iters);
  for (size_t i = 0; i < ninputs; i++)
    free(inputs[i]);
  free(buf);
  return 0;
}
