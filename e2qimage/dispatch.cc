// Main(): parse the command line, dispatch to one mode, and turn the
// resulting Status into a message and an exit code (the only place that
// does).
#include "e2qimage/dispatch.h"

#include <cstdio>
#include <cstdlib>
#include <string>

#include "config.h"
#include "e2qimage/convert_mode.h"
#include "e2qimage/export_mode.h"
#include "e2qimage/info_mode.h"
#include "e2qimage/list_mode.h"
#include "e2qimage/options.h"
#include "e2qimage/output_checks.h"
#include "e2qimage/rollback_mode.h"
#include "e2qimage/signals.h"
#include "e2qimage/source_device.h"
#include "lib/io/file.h"
#include "lib/io/image_lock.h"
#include "lib/qcow2/qcow2_reader.h"

namespace {

constexpr int kExitOk = 0;
constexpr int kExitError = 1;
constexpr int kExitUsage = 2;

// qcow2 input is converted (-r/-Q of an image) unless the filesystem is
// inside it (--offset, --partition); anything else is a filesystem to
// export.
e2q::Result<bool> SourceIsQcow2(const std::string& path) {
  if (path == "-") return false;
  E2Q_ASSIGN_OR_RETURN(std::unique_ptr<e2q::io::File> f,
                       e2q::io::OpenFileForRead(path));
  return e2q::qcow2::Qcow2Reader::IsQcow2(f.get());
}

e2q::Status Run(const e2q::cli::Options& o) {
  using e2q::cli::Mode;
  E2Q_RETURN_IF_ERROR(e2q::cli::CheckOutputs(o));
  switch (o.mode) {
    case Mode::kExport: {
      E2Q_ASSIGN_OR_RETURN(bool qcow2_input, SourceIsQcow2(o.args[0]));
      if (qcow2_input && !e2q::cli::ReadsInsideDisk(o)) {
        return e2q::cli::RunConvert(o);
      }
      if (!qcow2_input && !o.snapshot.empty()) {
        return e2q::Status::InvalidArgument(
            o.args[0] + ": -l: not a qcow2 image, so it has no internal "
                        "snapshots");
      }
      return e2q::cli::RunExport(o);
    }
    case Mode::kInfo:
      return e2q::cli::RunInfo(o);
    case Mode::kVerify:
      return e2q::cli::RunVerify(o);
    case Mode::kList:
      return e2q::cli::RunList(o);
    case Mode::kRollback:
      return e2q::cli::RunRollback(o);
    case Mode::kUndo:
      return e2q::cli::RunUndo(o);
    case Mode::kInstall:
      return e2q::cli::RunInstall(o);
    default:
      return e2q::Status::OK();
  }
}

}  // namespace

namespace e2q::cli {

int Main(int argc, char** argv) {
  std::string error;
  auto options = e2q::cli::ParseOptions(argc, argv, &error);
  if (!options) {
    fprintf(stderr, "e2qimage: %s\n%s", error.c_str(), e2q::cli::UsageText());
    return kExitUsage;
  }
  if (options->mode == Mode::kHelp) {
    fputs(e2q::cli::UsageText(), stdout);
    return kExitOk;
  }
  if (options->mode == e2q::cli::Mode::kVersion) {
    printf("e2qimage %s\n", PACKAGE_VERSION);
    return kExitOk;
  }
  e2q::cli::InstallSignalHandlers();
  e2q::io::SetForceShare(options->force_share);
  e2q::Status s = Run(*options);
  if (!s.ok()) {
    fprintf(stderr, "e2qimage: %s\n", s.message().c_str());
    return kExitError;
  }
  return kExitOk;
}

}  // namespace e2q::cli
