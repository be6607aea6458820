/* wire_names.h - the enum spelling tables of enums.c, for the decoders'
 * wire_map_enum() (internal to proto/). */
#ifndef VMSEAL_PROTO_WIRE_NAMES_H
#define VMSEAL_PROTO_WIRE_NAMES_H

#include "proto.h"

#define PROTO_N_TYPES (PROTO_HEARTBEAT + 1)
#define JOB_N_KINDS   (JOB_VM_SEAL + 1)
#define EV_N_STATES   (EV_READY + 1)
#define VOL_N_STATES  (VOL_STATE_LEFTOVER + 1)

extern const char *const proto_type_names[PROTO_N_TYPES];
extern const char *const job_kind_names[JOB_N_KINDS];
extern const char *const vol_legality_names[3];
extern const char *const vol_type_names[4];
extern const char *const vol_format_names[3];
extern const char *const event_state_names[EV_N_STATES];
extern const char *const vol_state_names[VOL_N_STATES];
extern const char *const file_action_names[2];

#endif
