// Progress display on stderr.
#include "e2qimage/progress.h"

#include <unistd.h>

#include <cstdio>

namespace e2q::cli {

namespace {

std::string FormatDuration(double seconds) {
  if (seconds < 0) seconds = 0;
  auto s = static_cast<unsigned long>(seconds + 0.5);
  char buf[32];
  snprintf(buf, sizeof(buf), "%lu:%02lu:%02lu", s / 3600, s / 60 % 60, s % 60);
  return buf;
}

}  // namespace

Progress::Progress(bool enabled, std::string what, std::string unit,
                   uint64_t total, uint64_t bytes_per_unit)
    : enabled_(enabled),
      tty_(isatty(STDERR_FILENO) != 0),
      what_(std::move(what)),
      unit_(std::move(unit)),
      total_(total),
      bytes_per_unit_(bytes_per_unit),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

Progress::~Progress() {
  // An interrupted line must not leave the cursor mid-line.
  if (enabled_ && tty_ && !finished_ && done_ > 0) fputc('\n', stderr);
}

void Progress::Update(uint64_t done) {
  done_ = done;
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  // A terminal line is redrawn four times a second; a log gets one line a
  // second at most.
  if (now - last_draw_ < std::chrono::milliseconds(tty_ ? 250 : 1000)) return;
  last_draw_ = now;
  Draw(false);
}

void Progress::Finish() {
  if (finished_) return;
  finished_ = true;
  if (enabled_) Draw(true);
}

void Progress::Draw(bool final_line) {
  double elapsed = std::chrono::duration<double>(
                       std::chrono::steady_clock::now() - start_)
                       .count();
  double mb = static_cast<double>(done_) * bytes_per_unit_ / 1e6;
  double rate = elapsed > 0 ? mb / elapsed : 0;
  double pct = total_ ? 100.0 * done_ / total_ : 100.0;
  // With a terminal, redraw one line; otherwise one line per update.
  const char* lead = tty_ ? "\r" : "";
  const char* tail = tty_ && !final_line ? "" : "\n";
  if (final_line) {
    fprintf(stderr, "%sDone: %s %llu / %llu %s (%.1f%%) in %s at %.2f MB/s%s\n",
            lead, what_.c_str(), static_cast<unsigned long long>(done_),
            static_cast<unsigned long long>(total_), unit_.c_str(), pct,
            FormatDuration(elapsed).c_str(), rate, tty_ ? "\x1b[K" : "");
  } else {
    double left = done_ > 0 && total_ > done_
                      ? elapsed * (total_ - done_) / done_
                      : 0;
    fprintf(stderr,
            "%s%s %llu / %llu %s (%.1f%%) %s remaining at %.2f MB/s%s%s",
            lead, what_.c_str(), static_cast<unsigned long long>(done_),
            static_cast<unsigned long long>(total_), unit_.c_str(), pct,
            FormatDuration(left).c_str(), rate, tty_ ? "\x1b[K" : "", tail);
  }
  fflush(stderr);
}

}  // namespace e2q::cli
