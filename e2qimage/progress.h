// Progress: "done / total, rate, time left" on stderr for long operations.
// Redraws at most four times a second; prints nothing unless enabled (-p).
#ifndef E2Q_E2QIMAGE_PROGRESS_H_
#define E2Q_E2QIMAGE_PROGRESS_H_

#include <chrono>
#include <cstdint>
#include <string>

namespace e2q::cli {

class Progress {
 public:
  // `what` names the work ("Copying"), `unit` the items ("blocks").
  Progress(bool enabled, std::string what, std::string unit, uint64_t total,
           uint64_t bytes_per_unit);
  ~Progress();
  void Update(uint64_t done);
  // Prints the final line ("Copied N / M blocks in T at X MB/s").
  void Finish();

 private:
  void Draw(bool final_line);
  bool enabled_;
  bool tty_;
  std::string what_;
  std::string unit_;
  uint64_t total_;
  uint64_t bytes_per_unit_;
  uint64_t done_ = 0;
  bool finished_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

}  // namespace e2q::cli

#endif  // E2Q_E2QIMAGE_PROGRESS_H_
