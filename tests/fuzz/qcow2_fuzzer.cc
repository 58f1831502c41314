// Fuzz target: one qcow2 image (header and its extensions, L1 and L2
// tables, the snapshot table, compressed clusters) read by Qcow2Reader from
// memory: open it, read all guest content, then the content of every
// internal snapshot.  Backing files are not followed (backing_fuzzer.cc);
// an external data file reads the input itself.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "lib/io/file.h"
#include "lib/qcow2/qcow2_reader.h"
#include "tests/fuzz/qcow2_read_all.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using e2q::qcow2::Qcow2Reader;
  auto file = std::make_unique<e2q::io::MemFile>(
      "fuzz.qcow2", std::vector<uint8_t>(data, data + size));
  Qcow2Reader::OpenOptions o;
  o.open_backing = false;
  o.decompress_threads = 1;
  o.l2_cache_bytes = 1 << 20;
  // An external data file named in the header is the input itself, so
  // that its read path is fuzzed too and no file on the host is opened.
  o.open_file = [&](const std::string& path)
      -> e2q::Result<std::unique_ptr<e2q::io::File>> {
    return std::unique_ptr<e2q::io::File>(
        new e2q::io::MemFile(path, std::vector<uint8_t>(data, data + size)));
  };
  auto reader = Qcow2Reader::Open(std::move(file), o);
  if (!reader.ok()) return 0;
  e2q::fuzz::ReadAllLayers(reader->get());
  return 0;
}
