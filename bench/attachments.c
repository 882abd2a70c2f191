/* wfc-bench-attach: moves one large attachment through the real plugin
 * and runtime against the emulator, up (Add Attachment: upload session,
 * 4 MiB ranged PUTs streamed from the blob store) and down (Download
 * Message Attachment: $value streamed into a new blob), and prints the
 * throughput of each direction and the process's peak RSS (VmHWM), whose
 * target is < 64 MB for any attachment size (DESIGN.md 7: flat memory).
 * The emulator runs in its own process; its peak RSS is printed too.
 *
 *   build/bin/wfc-bench-attach [MiB]        (default 100; at most 150)
 *
 * Figures, not a pass/fail test (exit 1 only when a card fails or the
 * bytes differ). */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, CLOCK_MONOTONIC, strdup */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "o365_fixture.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* VmHWM / VmRSS of a process, in KiB (-1 when unknown). */
static long proc_kib(pid_t pid, const char *field) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  FILE *f = fopen(path, "r");
  long v = -1;
  size_t n = strlen(field);
  while (f != NULL && fgets(line, sizeof line, f) != NULL)
    if (strncmp(line, field, n) == 0 && line[n] == ':')
      v = strtol(line + n + 1, NULL, 10);
  if (f != NULL)
    fclose(f);
  return v;
}

/* The emulator: our child whose command is m365-emulator. */
static pid_t emulator_pid(void) {
  DIR *d = opendir("/proc");
  pid_t found = 0;
  for (struct dirent *e = d ? readdir(d) : NULL; e != NULL && !found;
       e = readdir(d)) {
    char path[300], buf[512];
    snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
    FILE *f = fopen(path, "r");
    if (f == NULL)
      continue;
    int pid = 0, ppid = 0;
    char comm[64] = "", st = 0;
    if (fgets(buf, sizeof buf, f) != NULL &&
        sscanf(buf, "%d (%63[^)]) %c %d", &pid, comm, &st, &ppid) == 4 &&
        ppid == getpid() && strstr(comm, "emulator") != NULL)
      found = pid;
    fclose(f);
  }
  if (d != NULL)
    closedir(d);
  return found;
}

/* A committed blob of size pseudo-random bytes, written in 1 MiB steps in
 * the store's layout; its SHA-256 (hex) into sha. */
static int make_blob(o365_fixture *fx, int64_t size, char id[33],
                     char sha[65]) {
  snprintf(id, 33, "be%030x", (unsigned)getpid());
  char path[512];
  snprintf(path, sizeof path, "%s/%s", o365_fixture_blob_dir(fx), id);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0)
    return -1;
  static uint32_t buf[262144];
  uint32_t x = 2463534242u;
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  EVP_DigestInit_ex(md, EVP_sha256(), NULL);
  for (int64_t done = 0; done < size;) {
    for (size_t i = 0; i < 262144; i++) {
      x ^= x << 13;
      x ^= x >> 17;
      x ^= x << 5;
      buf[i] = x;
    }
    size_t n =
        size - done < (int64_t)sizeof buf ? (size_t)(size - done) : sizeof buf;
    if (write(fd, buf, n) != (ssize_t)n) {
      close(fd);
      EVP_MD_CTX_free(md);
      return -1;
    }
    EVP_DigestUpdate(md, buf, n);
    done += (int64_t)n;
  }
  close(fd);
  unsigned char dg[32];
  EVP_DigestFinal_ex(md, dg, NULL);
  EVP_MD_CTX_free(md);
  for (int i = 0; i < 32; i++)
    snprintf(sha + 2 * i, 3, "%02x", dg[i]);
  snprintf(path, sizeof path, "%s/%s.json", o365_fixture_blob_dir(fx), id);
  FILE *f = fopen(path, "w");
  if (f == NULL)
    return -1;
  fprintf(f,
          "{\"v\":1,\"name\":\"bench.bin\",\"content_type\":"
          "\"application/octet-stream\",\"size\":%lld,\"sha256\":\"%s\","
          "\"created_ms\":0}",
          (long long)size, sha);
  fclose(f);
  return 0;
}

static const char *out_str(const o365_outcome *o, const char *a,
                           const char *b) {
  json_object *v = o->output, *w = NULL;
  if (a != NULL && !json_object_object_get_ex(v, a, &v))
    return NULL;
  if (json_object_is_type(v, json_type_array))
    v = json_object_array_get_idx(v, 0);
  return json_object_object_get_ex(v, b, &w) ? json_object_get_string(w) : NULL;
}

int main(int argc, char **argv) {
  int64_t mib = argc > 1 ? atoll(argv[1]) : 100;
  if (mib < 4 || mib > 150) {
    fprintf(stderr, "usage: wfc-bench-attach [MiB: 4..150]\n");
    return 2;
  }
  int64_t size = mib * 1024 * 1024;
  o365_fixture *fx = o365_fixture_new(NULL);
  if (fx == NULL || o365_fixture_connect(fx, "alice@contoso.test") == NULL) {
    fprintf(stderr, "wfc-bench-attach: emulator or connection set-up "
                    "failed\n");
    return 1;
  }
  char id[33], sha[65];
  if (make_blob(fx, size, id, sha) != 0) {
    fprintf(stderr, "wfc-bench-attach: cannot write the test file\n");
    return 1;
  }
  int rc = 1;
  o365_outcome o;
  char *msg = NULL, *att = NULL;
  long base_hwm = proc_kib(getpid(), "VmHWM");
  if (o365_fixture_run(fx, "custom_api_action",
                       "{\"method\":\"POST\",\"relative_url\":"
                       "\"/me/messages\",\"body\":{\"subject\":\"bench\"}}",
                       &o) != 0) {
    fprintf(stderr, "wfc-bench-attach: draft: %s\n", o.message);
    o365_outcome_free(&o);
    goto out;
  }
  const char *draft = out_str(&o, "body", "id");
  msg = draft ? strdup(draft) : NULL;
  o365_outcome_free(&o);
  if (msg == NULL)
    goto out;

  char input[1024];
  snprintf(input, sizeof input,
           "{\"message_id\":\"%s\",\"files\":[{\"id\":\"%s\"}]}", msg, id);
  double t0 = now_s();
  if (o365_fixture_run(fx, "add_attachment", input, &o) != 0) {
    fprintf(stderr, "wfc-bench-attach: add_attachment: %s\n", o.message);
    o365_outcome_free(&o);
    goto out;
  }
  double up_s = now_s() - t0;
  att = strdup(out_str(&o, "attachments", "id"));
  o365_outcome_free(&o);
  long up_hwm = proc_kib(getpid(), "VmHWM");

  snprintf(input, sizeof input,
           "{\"message_id\":\"%s\",\"attachment_id\":\"%s\"}", msg, att);
  t0 = now_s();
  if (o365_fixture_run(fx, "download_attachment", input, &o) != 0) {
    fprintf(stderr, "wfc-bench-attach: download_attachment: %s\n", o.message);
    o365_outcome_free(&o);
    goto out;
  }
  double down_s = now_s() - t0;
  const char *got = out_str(&o, "file", "sha256");
  int same = got != NULL && strcmp(got, sha) == 0;
  o365_outcome_free(&o);
  long hwm = proc_kib(getpid(), "VmHWM");
  pid_t emu = emulator_pid();
  long emu_hwm = emu ? proc_kib(emu, "VmHWM") : -1;

  double mb = (double)size / 1e6;
  printf("attachment: %lld bytes (%lld MiB), sha256 %s\n", (long long)size,
         (long long)mib, same ? "equal after the round trip" : "DIFFERS");
  printf("upload   (Add Attachment, upload session): %7.2f s  %8.1f MB/s\n",
         up_s, mb / up_s);
  printf("download (Download Message Attachment):     %7.2f s  %8.1f MB/s\n",
         down_s, mb / down_s);
  printf("peak RSS (VmHWM) of this process: %.1f MB (before the transfers "
         "%.1f MB, after the upload %.1f MB); target < 64 MB: %s\n",
         hwm / 1024.0, base_hwm / 1024.0, up_hwm / 1024.0,
         hwm >= 0 && hwm < 64 * 1024 ? "met" : "MISSED");
  if (emu_hwm >= 0)
    printf("peak RSS (VmHWM) of the emulator process: %.1f MB\n",
           emu_hwm / 1024.0);
  rc = same ? 0 : 1;
out:
  free(msg);
  free(att);
  if (o365_fixture_free(fx) != 0 && rc == 0)
    rc = 1;
  return rc;
}
