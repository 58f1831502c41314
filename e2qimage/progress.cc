// Progress display on stderr.
#include "e2qimage/progress.h"

#include <unistd.h>

#include <cstdio>
#include <utility>

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

const char* ExportUnit(bool all_data) {
  return all_data ? "blocks in use" : "metadata blocks";
}

std::string Progress::PastTense(const std::string& what) {
  static const std::pair<const char*, const char*> kVerbs[] = {
      {"Copying", "Copied"},     {"Converting", "Converted"},
      {"Verifying", "Verified"}, {"Comparing", "Compared"},
      {"Saving", "Saved"},       {"Rolling", "Rolled"},
      {"Undoing", "Undid"},      {"Writing", "Wrote"},
      {"Reading", "Read"},
  };
  const size_t space = what.find(' ');
  const std::string first = what.substr(0, space);
  for (const auto& [ing, ed] : kVerbs) {
    if (first == ing) {
      return ed + (space == std::string::npos ? "" : what.substr(space));
    }
  }
  return "Done: " + what;
}

Progress::Progress(bool enabled, std::string what, std::string unit,
                   uint64_t total, uint64_t bytes_per_unit)
    : enabled_(enabled),
      tty_(isatty(STDERR_FILENO) != 0),
      what_(std::move(what)),
      unit_(std::move(unit)),
      total_(total),
      bytes_per_unit_(bytes_per_unit),
      start_(std::chrono::steady_clock::now()) {
  if (enabled_) ticker_ = std::thread([this] { Tick(); });
}

Progress::~Progress() {
  Stop();
  // An interrupted line must not leave the cursor mid-line.
  if (enabled_ && tty_ && !finished_ && drawn_) fputc('\n', stderr);
}

void Progress::Update(uint64_t done) {
  done_.store(done, std::memory_order_relaxed);
}

void Progress::Tick() {
  const auto period = std::chrono::milliseconds(tty_ ? 250 : 1000);
  std::unique_lock<std::mutex> lock(mu_);
  while (!cv_.wait_for(lock, period, [this] { return stop_; })) {
    Draw(false);
    drawn_ = true;
  }
}

void Progress::Stop() {
  if (!ticker_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_one();
  ticker_.join();
}

void Progress::Finish() {
  if (finished_) return;
  Stop();
  finished_ = true;
  if (enabled_) Draw(true);
}

void Progress::Draw(bool final_line) {
  const uint64_t done = done_.load(std::memory_order_relaxed);
  double elapsed = std::chrono::duration<double>(
                       std::chrono::steady_clock::now() - start_)
                       .count();
  double mb = static_cast<double>(done) * bytes_per_unit_ / 1e6;
  double rate = elapsed > 0 ? mb / elapsed : 0;
  double pct = total_ ? 100.0 * done / total_ : 100.0;
  // With a terminal, redraw one line; otherwise one line per update.
  const char* lead = tty_ ? "\r" : "";
  const char* erase = tty_ ? "\x1b[K" : "";
  if (final_line) {
    fprintf(stderr, "%s%s %llu / %llu %s (%.1f%%) in %s at %.2f MB/s%s\n", lead,
            PastTense(what_).c_str(), static_cast<unsigned long long>(done),
            static_cast<unsigned long long>(total_), unit_.c_str(), pct,
            FormatDuration(elapsed).c_str(), rate, erase);
  } else {
    double left =
        done > 0 && total_ > done ? elapsed * (total_ - done) / done : 0;
    fprintf(stderr,
            "%s%s %llu / %llu %s (%.1f%%) %s remaining at %.2f MB/s%s%s", lead,
            what_.c_str(), static_cast<unsigned long long>(done),
            static_cast<unsigned long long>(total_), unit_.c_str(), pct,
            FormatDuration(left).c_str(), rate, erase, tty_ ? "" : "\n");
  }
  fflush(stderr);
}

}  // namespace e2q::cli
