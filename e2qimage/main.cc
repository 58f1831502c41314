// e2qimage: images of ext2/ext3/ext4 filesystems as qcow2 or raw files.
#include "e2qimage/dispatch.h"

int main(int argc, char** argv) { return e2q::cli::Main(argc, argv); }
