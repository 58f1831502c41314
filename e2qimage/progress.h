// Progress: "done / total, rate, time left" on stderr for long operations.
// Prints nothing unless enabled (-p).  A thread of its own redraws the line
// four times a second on a terminal (once a second into a log), however
// rarely the work reports: a compressed export may spend seconds in one
// batch.  The last line says what was done, as e2image's does ("Copied
// N / M blocks (100.0%) in 0:00:05 at 80.00 MB/s").
#ifndef E2Q_E2QIMAGE_PROGRESS_H_
#define E2Q_E2QIMAGE_PROGRESS_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

namespace e2q::cli {

class Progress {
 public:
  // `what` names the work in the present participle ("Copying", "Rolling
  // back"), `unit` the items ("blocks in use"); each item is
  // `bytes_per_unit` bytes for the rate.
  Progress(bool enabled, std::string what, std::string unit, uint64_t total,
           uint64_t bytes_per_unit);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // Any thread may report.
  void Update(uint64_t done);
  // Stops the redraws and prints the final line ("Copied N / M ...").
  void Finish();

  // "Copying" -> "Copied", "Rolling back" -> "Rolled back"; the first word
  // of `what` in the past tense (exposed for the tests).
  static std::string PastTense(const std::string& what);

 private:
  void Tick();
  void Stop();
  void Draw(bool final_line);

  const bool enabled_;
  const bool tty_;
  const std::string what_;
  const std::string unit_;
  const uint64_t total_;
  const uint64_t bytes_per_unit_;
  std::atomic<uint64_t> done_{0};
  bool finished_ = false;
  bool drawn_ = false;  // a line was drawn (a terminal line may be open)
  const std::chrono::steady_clock::time_point start_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread ticker_;
};

// What an export's progress counts: the blocks it selects and reads, all
// of those in use with -a, else the metadata blocks ("blocks in use",
// "metadata blocks"); all-zero ones among them are read but not stored.
const char* ExportUnit(bool all_data);

}  // namespace e2q::cli

#endif  // E2Q_E2QIMAGE_PROGRESS_H_
