/* mq_msg.c - message properties: what vmseal puts on a publish and what it
 * reads back from a delivery (x-delivery-count, x-death, x-vmseal-reason). */
#include <string.h>

#include <amqp.h>

#include "err.h"
#include "mq_private.h"
#include "util.h"

char *mq_bytes_dup(amqp_bytes_t b) {
    if (!b.bytes || b.len == 0)
        return NULL;
    return xstrndup(b.bytes, b.len);
}

static void mq_prop_set(amqp_basic_properties_t *p, amqp_flags_t flag, amqp_bytes_t *field, const char *v) {
    if (!v)
        return;
    p->_flags |= flag;
    *field = amqp_cstring_bytes(v);
}

int mq_send_publish(mq_t *mq, uint64_t seq, const char *exchange, const char *routing_key,
                    const struct mq_props *props, const void *body, size_t len) {
    static const struct mq_props none;
    amqp_basic_properties_t p;
    amqp_table_entry_t hdr[2];
    int n_hdr = 0, r;

    if (!props)
        props = &none;
    memset(&p, 0, sizeof(p));
    p._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG;
    p.content_type = amqp_cstring_bytes("application/msgpack");
    p.delivery_mode = props->transient ? 1 : 2;
    mq_prop_set(&p, AMQP_BASIC_MESSAGE_ID_FLAG, &p.message_id, props->message_id);
    mq_prop_set(&p, AMQP_BASIC_CORRELATION_ID_FLAG, &p.correlation_id, props->correlation_id);
    mq_prop_set(&p, AMQP_BASIC_REPLY_TO_FLAG, &p.reply_to, props->reply_to);
    mq_prop_set(&p, AMQP_BASIC_TYPE_FLAG, &p.type, props->type);
    mq_prop_set(&p, AMQP_BASIC_USER_ID_FLAG, &p.user_id, mq->opts.stamp_user_id ? mq->opts.broker->user : NULL);
    if (props->reason) {
        hdr[n_hdr].key = amqp_cstring_bytes(MQ_HDR_REASON);
        hdr[n_hdr].value.kind = AMQP_FIELD_KIND_UTF8;
        hdr[n_hdr++].value.value.bytes = amqp_cstring_bytes(props->reason);
    }
    if (props->mandatory) {
        /* how a basic.return finds its publish (see mq_on_return) */
        hdr[n_hdr].key = amqp_cstring_bytes(MQ_HDR_SEQ);
        hdr[n_hdr].value.kind = AMQP_FIELD_KIND_U64;
        hdr[n_hdr++].value.value.u64 = seq;
    }
    if (n_hdr) {
        p._flags |= AMQP_BASIC_HEADERS_FLAG;
        p.headers.num_entries = n_hdr;
        p.headers.entries = hdr;
    }
    mq_cork(mq, true);
    r = amqp_basic_publish(mq->conn, mq->pub_channel, amqp_cstring_bytes(exchange),
                           amqp_cstring_bytes(routing_key ? routing_key : ""), props->mandatory, 0, &p,
                           (amqp_bytes_t){ .len = len, .bytes = (void *)body });
    if (r != AMQP_STATUS_OK) {
        mq_set_why(mq, "publish to %s: %s", exchange, amqp_error_string2(r));
        return -VMS_E_CONN_LOST;
    }
    return 0;
}

const amqp_field_value_t *mq_table_get(const amqp_table_t *t, const char *key) {
    size_t klen = strlen(key);

    for (int i = 0; i < t->num_entries; i++)
        if (t->entries[i].key.len == klen && memcmp(t->entries[i].key.bytes, key, klen) == 0)
            return &t->entries[i].value;
    return NULL;
}

bool mq_field_int(const amqp_field_value_t *v, int64_t *ret) {
    switch (v->kind) {
    case AMQP_FIELD_KIND_I8: *ret = v->value.i8; return true;
    case AMQP_FIELD_KIND_U8: *ret = v->value.u8; return true;
    case AMQP_FIELD_KIND_I16: *ret = v->value.i16; return true;
    case AMQP_FIELD_KIND_U16: *ret = v->value.u16; return true;
    case AMQP_FIELD_KIND_I32: *ret = v->value.i32; return true;
    case AMQP_FIELD_KIND_U32: *ret = v->value.u32; return true;
    case AMQP_FIELD_KIND_I64: *ret = v->value.i64; return true;
    case AMQP_FIELD_KIND_U64: *ret = (int64_t)v->value.u64; return true;
    default: return false;
    }
}

static char *mq_field_str(const amqp_field_value_t *v) {
    if (!v || (v->kind != AMQP_FIELD_KIND_UTF8 && v->kind != AMQP_FIELD_KIND_BYTES))
        return NULL;
    return mq_bytes_dup(v->value.bytes);
}

/* A string of the most recent dead-lettering ("reason", "queue"): x-death
 * is an array of tables, newest first. */
static char *mq_death_field(const amqp_field_value_t *v, const char *key) {
    if (!v || v->kind != AMQP_FIELD_KIND_ARRAY || v->value.array.num_entries < 1)
        return NULL;
    const amqp_field_value_t *first = &v->value.array.entries[0];
    if (first->kind != AMQP_FIELD_KIND_TABLE)
        return NULL;
    return mq_field_str(mq_table_get(&first->value.table, key));
}

void mq_delivery_from_deliver(struct mq_delivery *d, const amqp_basic_deliver_t *m) {
    memset(d, 0, sizeof(*d));
    d->exchange = mq_bytes_dup(m->exchange);
    d->routing_key = mq_bytes_dup(m->routing_key);
    d->delivery_tag = m->delivery_tag;
    d->redelivered = m->redelivered;
}

void mq_delivery_from_message(struct mq_delivery *d, const amqp_message_t *msg) {
    const amqp_basic_properties_t *p = &msg->properties;
    amqp_flags_t f = p->_flags;

    if (f & AMQP_BASIC_MESSAGE_ID_FLAG)
        d->message_id = mq_bytes_dup(p->message_id);
    if (f & AMQP_BASIC_CORRELATION_ID_FLAG)
        d->correlation_id = mq_bytes_dup(p->correlation_id);
    if (f & AMQP_BASIC_REPLY_TO_FLAG)
        d->reply_to = mq_bytes_dup(p->reply_to);
    if (f & AMQP_BASIC_CONTENT_TYPE_FLAG)
        d->content_type = mq_bytes_dup(p->content_type);
    if (f & AMQP_BASIC_TYPE_FLAG)
        d->type = mq_bytes_dup(p->type);
    if (f & AMQP_BASIC_USER_ID_FLAG)
        d->user_id = mq_bytes_dup(p->user_id);
    if (f & AMQP_BASIC_HEADERS_FLAG) {
        const amqp_field_value_t *v = mq_table_get(&p->headers, "x-delivery-count");
        if (v && !mq_field_int(v, &d->delivery_count))
            d->delivery_count = 0;
        d->reason = mq_field_str(mq_table_get(&p->headers, MQ_HDR_REASON));
        if (!d->reason)
            d->reason = mq_death_field(mq_table_get(&p->headers, "x-death"), "reason");
        d->death_queue = mq_death_field(mq_table_get(&p->headers, "x-death"), "queue");
    }
    d->body_len = msg->body.len;
    d->body = xmalloc(msg->body.len ? msg->body.len : 1);
    if (msg->body.len)
        memcpy(d->body, msg->body.bytes, msg->body.len);
}

void mq_delivery_free(struct mq_delivery *d) {
    free(d->queue);
    free(d->exchange);
    free(d->routing_key);
    free(d->message_id);
    free(d->correlation_id);
    free(d->reply_to);
    free(d->content_type);
    free(d->type);
    free(d->user_id);
    free(d->reason);
    free(d->death_queue);
    free(d->body);
    memset(d, 0, sizeof(*d));
}
