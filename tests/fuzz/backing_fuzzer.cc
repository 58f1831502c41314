// Fuzz target: qcow2 backing chains, loops included.  The input holds two
// files separated by kSplit: "a.qcow2" (opened) and "b.qcow2"; either may
// name the other or itself as its backing file, and b.qcow2 may be raw.
// Opens a.qcow2 with its chain and reads all guest content of it and of
// its internal snapshots.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "lib/io/file.h"
#include "lib/qcow2/qcow2_reader.h"
#include "tests/fuzz/qcow2_read_all.h"

namespace {

constexpr char kSplit[] = "==e2q-split==";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using e2q::qcow2::Qcow2Reader;
  const size_t seplen = sizeof(kSplit) - 1;
  const uint8_t* end = data + size;
  const uint8_t* sep = size >= seplen
      ? std::search(data, end, kSplit, kSplit + seplen,
                    [](uint8_t a, char b) { return a == static_cast<uint8_t>(b); })
      : end;
  const std::vector<uint8_t> a(data, sep);
  const std::vector<uint8_t> b(sep == end ? end : sep + seplen, end);
  Qcow2Reader::OpenOptions o;
  o.decompress_threads = 1;
  o.l2_cache_bytes = 1 << 20;
  o.open_file = [&](const std::string& path)
      -> e2q::Result<std::unique_ptr<e2q::io::File>> {
    if (path == "a.qcow2")
      return std::unique_ptr<e2q::io::File>(new e2q::io::MemFile(path, a));
    if (path == "b.qcow2")
      return std::unique_ptr<e2q::io::File>(new e2q::io::MemFile(path, b));
    return e2q::Status::NotFound(path + ": open: No such file or directory");
  };
  auto reader = Qcow2Reader::Open(
      std::unique_ptr<e2q::io::File>(new e2q::io::MemFile("a.qcow2", a)), o);
  if (!reader.ok()) return 0;
  e2q::fuzz::ReadAllLayers(reader->get());
  return 0;
}
