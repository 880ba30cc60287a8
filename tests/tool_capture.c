/* tool_capture - captures audio through daemon/capture (the daemon's own capture path) into a WAV.
 *
 *   tool_capture [--device NAME] [--device-rate HZ] [--file PATH|-] [--unpaced] [--rate HZ]
 *                [--seconds S] [--list] OUT.wav
 *
 * Reads S seconds (default 2) of output samples at --rate (default 16000) from the PortAudio input
 * device NAME (default: the default device), or from a file source, and writes them as 16-bit mono
 * WAV.  Prints "captured N samples, dropped D, retries R, device NAME" on stderr.  Exits 1 if nothing
 * arrives within S + 3 seconds.  Used by tests/e2e_capture.sh. */
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../daemon/capture.h"

static void usage(void)
{
    fprintf(stderr, "usage: tool_capture [--device NAME] [--device-rate HZ] [--file PATH|-] [--unpaced]\n"
                    "                    [--rate HZ] [--seconds S] [--list] OUT.wav\n");
    exit(2);
}

int main(int argc, char **argv)
{
    capture_opts o = capture_default_opts();
    double seconds = 2;
    const char *out = NULL;
    asr_error err;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (!strcmp(a, "--device") && more)
            o.device = argv[++i];
        else if (!strcmp(a, "--device-rate") && more)
            o.device_rate = atoi(argv[++i]);
        else if (!strcmp(a, "--file") && more)
            o.kind = CAPTURE_FILE, o.path = argv[++i];
        else if (!strcmp(a, "--unpaced"))
            o.paced = 0;
        else if (!strcmp(a, "--rate") && more)
            o.out_rate = atoi(argv[++i]);
        else if (!strcmp(a, "--seconds") && more)
            seconds = atof(argv[++i]);
        else if (!strcmp(a, "--list")) {
            if (capture_list_devices(stdout, &err) != ASR_OK) {
                fprintf(stderr, "tool_capture: %s\n", err.msg);
                return 1;
            }
            return 0;
        } else if (a[0] == '-' && a[1])
            usage();
        else
            out = a;
    }
    if (!out || seconds <= 0)
        usage();
    o.retry_min_s = 0.2;
    o.retry_max_s = 1;
    capture *c = capture_open(&o, &err);
    if (!c) {
        fprintf(stderr, "tool_capture: %s\n", err.msg);
        return 1;
    }
    size_t want = (size_t)(seconds * o.out_rate), got = 0;
    float *x = malloc(want * sizeof *x);
    if (!x || capture_start(c, &err) != ASR_OK) {
        fprintf(stderr, "tool_capture: %s\n", x ? err.msg : "out of memory");
        return 1;
    }
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (got < want && !capture_eof(c)) {
        long k = capture_read(c, x + got, want - got, &err);
        if (k < 0) {
            fprintf(stderr, "tool_capture: %s\n", err.msg);
            break;
        }
        got += (size_t)k;
        if (k == 0) {
            struct timespec ms = {0, 2000000};
            nanosleep(&ms, NULL);
        }
        clock_gettime(CLOCK_MONOTONIC, &t);
        if (t.tv_sec - t0.tv_sec > seconds + 3)
            break;
    }
    char name[256];
    capture_device_name(c, name, sizeof name);
    fprintf(stderr, "captured %zu samples, dropped %llu, retries %llu, device %s\n", got,
            (unsigned long long)capture_dropped(c), (unsigned long long)capture_retries(c), name);
    capture_close(c);
    SF_INFO info = {.samplerate = o.out_rate, .channels = 1, .format = SF_FORMAT_WAV | SF_FORMAT_PCM_16};
    SNDFILE *f = sf_open(out, SFM_WRITE, &info);
    if (!f) {
        fprintf(stderr, "tool_capture: %s: %s\n", out, sf_strerror(NULL));
        return 1;
    }
    for (size_t i = 0; i < got; i++)
        x[i] /= 32768.0f; /* sndfile's float scale is +-1 */
    sf_write_float(f, x, (sf_count_t)got);
    sf_close(f);
    free(x);
    return got ? 0 : 1;
}
