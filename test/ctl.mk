## test/ctl.mk - tests of the control interface and of the hakmem-ctl tool.
## Included by test/local.mk (after its TEST_CFLAGS and SH_LOG_COMPILER).
##
##   test/test_ctl         every ctl key read, every writable key round-tripped,
##                         every error code; statistics following allocations
##                         in one and several threads; the conf string
##                         (HAKMEM_CONF, the hakmem_conf symbol, bad entries)
##   test/test_ctl_tool.sh hakmem-ctl keys / run / stats on real programs, the
##                         JSON statistics read by python3, and the KEYS
##                         section of doc/hakmem.3 against the key table

check_PROGRAMS += test/test_ctl
test_test_ctl_SOURCES = test/test_ctl.c test/expect.h
test_test_ctl_CFLAGS = $(TEST_CFLAGS)
test_test_ctl_LDADD = libhakmem.la -lpthread

TESTS += test/test_ctl test/test_ctl_tool.sh
EXTRA_DIST += test/test_ctl_tool.sh

## test/test_live.sh      the live view: hakmem-ctl stats/get/set/top/ps on a
##                        running program (test/live_target.c): figures equal
##                        to the program's own, RSS lowered by set, top in
##                        tmux, refusals (another user, a dead process, a
##                        process without hakmem, one that exits mid-request)
check_PROGRAMS += test/live_target
test_live_target_SOURCES = test/live_target.c
test_live_target_CFLAGS = $(TEST_CFLAGS)
test_live_target_LDADD = -ldl -lpthread

TESTS += test/test_live.sh
EXTRA_DIST += test/test_live.sh

## test/test_live_signal  the program's own SIGRTMAX instances, picked by the
##                        background thread, are put back: the program gets
##                        every one; decay still wakes the thread afterwards
check_PROGRAMS += test/test_live_signal
test_test_live_signal_SOURCES = test/test_live_signal.c test/expect.h
test_test_live_signal_CFLAGS = $(TEST_CFLAGS)
test_test_live_signal_LDADD = libhakmem.la -lpthread
TESTS += test/test_live_signal
