// Options: the parsed command line.  ParseOptions() turns argv into an
// Options value or a usage error; the modes (export_mode.cc,
// convert_mode.cc, ...) read nothing else.
#ifndef E2Q_E2QIMAGE_OPTIONS_H_
#define E2Q_E2QIMAGE_OPTIONS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace e2q::cli {

enum class Mode {
  kExport,    // DEVICE -> image (or qcow2 input -> raw/qcow2: see is_qcow2)
  kList,      // -L DEVICE
  kRollback,  // -R ID DEVICE UNDO-FILE
  kUndo,      // -U UNDO-FILE DEVICE
  kInstall,   // -I IMAGE DEVICE UNDO-FILE
  kInfo,      // --info IMAGE-FILE
  kVerify,    // --verify IMAGE-FILE
  kHelp,
  kVersion,
};

enum class OutputFormat { kNone, kRaw, kQcow2 };

// The argument of -x: "ID" or "ID1..ID2" (ID2 may be "live").  IDs are
// next3 snapshot IDs, 1 to 4294967295.
struct SnapshotSpec {
  uint32_t id = 0;       // ID, or ID1 of a range
  bool range = false;    // ID1..ID2
  uint32_t to = 0;       // ID2 (0 with to_live)
  bool to_live = false;  // ID1..live
};
// Parses the argument of -x; nullopt if it is malformed.
std::optional<SnapshotSpec> ParseSnapshotSpec(const std::string& arg);

struct Options {
  Mode mode = Mode::kExport;
  OutputFormat format = OutputFormat::kNone;  // -r / -Q
  bool all_data = false;                      // -a
  std::optional<int> compress_level;          // -z[LEVEL]
  bool compress_zstd = false;                 // --compress=zstd[:LEVEL]
  bool scramble = false;                      // -s
  bool progress = false;                      // -p
  bool force = false;                         // -f
  bool dry_run = false;                       // -n
  uint64_t superblock = 0;                    // -b (0 = primary)
  uint32_t blocksize = 0;                     // -B (0 = from superblock)
  std::optional<uint64_t> cluster_size;       // --cluster-size
  uint32_t qcow2_version = 3;                 // --compat=1.1 (3) / 0.10 (2)
  std::string snapshot;                       // -l SNAPSHOT (qcow2 input)
  std::optional<uint64_t> offset;             // --offset=BYTES (source)
  uint32_t partition = 0;                     // --partition=N (0 = none)
  std::string export_snapshot_arg;            // -x ID or ID1..ID2, as given
  std::optional<SnapshotSpec> export_snapshot;  // -x, parsed
  bool export_all_snapshots = false;          // -X
  std::string backing;                        // --backing=FILE
  std::string rollback_id;                    // -R ID
  uint64_t rate_limit = 0;  // --rate-limit: device bytes per second (0: none)
  unsigned threads = 0;                       // --threads (0 = all cores)
  bool sync = false;                          // --sync (exports only)
  bool no_sync_given = false;                 // --no-sync (refused by -R/-U)
  bool force_share = false;                   // --force-share (reads only)
  bool share = true;                          // not --no-share
  bool json = false;                          // --output=json
  bool output_given = false;                  // --output (--info/--verify/-L)
  std::vector<std::string> args;              // positional arguments
};

// Parses argv.  On a usage error returns nullopt and sets *error to the
// message (printed by main with the usage text, exit 2).
std::optional<Options> ParseOptions(int argc, char** argv, std::string* error);

// The --help text.
const char* UsageText();

}  // namespace e2q::cli

#endif  // E2Q_E2QIMAGE_OPTIONS_H_
