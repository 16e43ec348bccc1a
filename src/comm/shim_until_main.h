/* TEMPORARY: see shim_until_main.c. */
#ifndef PIPA_SHIM_UNTIL_MAIN_H
#define PIPA_SHIM_UNTIL_MAIN_H
#include "comm/comm.h"
pipa_status pipa_allgather(pipa_group_t *g, const void *sendbuf, size_t bytes, void *recvbuf);
pipa_status pipa_allreduce_max(pipa_group_t *g, pipa_dtype t, void *buf, size_t n);
uint64_t pipa_comm_bytes_sent(const pipa_comm_t *c);
#endif
