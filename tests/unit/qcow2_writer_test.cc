// Tests for lib/qcow2_writer; being written.
#include <gtest/gtest.h>
