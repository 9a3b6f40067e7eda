/* The one difference of the hiredis reader API that resp.pyx meets: createArray receives
 * the element count as an int in hiredis 0.14 (Debian 12) and as a size_t from 1.0 on. */
#ifndef SMARTSIM_HIREDIS_COMPAT_H
#define SMARTSIM_HIREDIS_COMPAT_H
#include <hiredis/hiredis.h>
#if HIREDIS_MAJOR >= 1
typedef size_t hiredis_count_t;
#else
typedef int hiredis_count_t;
#endif
#endif
