// What the snapshot layer's runs (rollback_run.h, inverted_export.h) take
// from their caller: the output they write, and progress callbacks.
#ifndef E2Q_SNAPSHOT_RUN_IO_H_
#define E2Q_SNAPSHOT_RUN_IO_H_

#include <cstdint>
#include <functional>
#include <string>

#include "lib/base/status.h"
#include "lib/io/file.h"

namespace e2q::snapshot {

// Where a new file (an undo file, a -X image) goes: written from offset 0
// through file(), then made durable and put in place by Commit()
// (OutputFile's rename, with fsyncs where asked).
class DurableOutput {
 public:
  virtual ~DurableOutput() = default;
  virtual io::File* file() = 0;
  virtual Status Commit() = 0;
};

// Progress of one phase ("Comparing", "Saving", "Rolling back", "Undoing",
// "Copying STATE"):
// `begin` gets its name, total and the bytes of a unit; all optional.
struct RunProgress {
  std::function<void(const std::string& what, uint64_t total,
                     uint64_t unit_bytes)>
      begin;
  std::function<void(uint64_t done)> update;
  std::function<void()> finish;
};

// Runs `fn` as one progress phase over `total` blocks, which `fn` goes
// through `passes` times (counting each pass): the display counts blocks,
// as the summary printed after the run does.
template <typename Fn>
auto Phase(const RunProgress& p, const std::string& what, uint64_t total,
           uint64_t unit, uint64_t passes, Fn fn) {
  if (p.begin) p.begin(what, total, unit);
  auto r = fn([&p, passes](uint64_t done) {
    if (p.update) p.update(done / passes);
  });
  if (r.ok() && p.finish) p.finish();
  return r;
}

}  // namespace e2q::snapshot

#endif  // E2Q_SNAPSHOT_RUN_IO_H_
