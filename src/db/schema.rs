//! Diesel's view of the tables in `migrations/`. Written by hand: both backends share it, so
//! every id is `BigInt` (SQLite's rowid is 64-bit) and only portable types appear.

diesel::table! {
    customers (id) {
        id -> BigInt,
        external_id -> Text,
        name -> Text,
        email -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        billing_ref -> Nullable<Text>,
        hosting_user -> Nullable<Text>,
        notify -> Bool,
        language -> Nullable<Text>,
        bouncing -> Nullable<Text>,
        forgotten_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    customer_identities (id) {
        id -> BigInt,
        customer_id -> BigInt,
        identity -> Text,
    }
}

diesel::table! {
    customer_domains (id) {
        id -> BigInt,
        customer_id -> BigInt,
        domain -> Text,
    }
}

diesel::table! {
    customer_netblocks (id) {
        id -> BigInt,
        customer_id -> BigInt,
        cidr -> Text,
        family -> Integer,
        prefix_len -> Integer,
        range_start -> Binary,
        range_end -> Binary,
    }
}

diesel::table! {
    users (id) {
        id -> BigInt,
        username -> Text,
        password_hash -> Text,
        role -> Text,
        disabled -> Bool,
        created_at -> Timestamp,
        last_login_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    staff_sessions (id) {
        id -> BigInt,
        user_id -> BigInt,
        token_hash -> Text,
        created_at -> Timestamp,
        last_seen_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    api_tokens (id) {
        id -> BigInt,
        user_id -> BigInt,
        name -> Text,
        token_hash -> Text,
        created_at -> Timestamp,
        expires_at -> Nullable<Timestamp>,
        last_used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    raw_messages (id) {
        id -> BigInt,
        sha256 -> Text,
        compression -> Text,
        content -> Binary,
        size_bytes -> BigInt,
        source -> Text,
        mailbox -> Nullable<Text>,
        received_at -> Timestamp,
        parse_status -> Text,
        parse_error_kind -> Nullable<Text>,
        parse_error -> Nullable<Text>,
        processed_at -> Nullable<Timestamp>,
        purged_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    tickets (id) {
        id -> BigInt,
        customer_id -> Nullable<BigInt>,
        subject_kind -> Text,
        subject -> Text,
        class -> Text,
        severity -> Text,
        status -> Text,
        open_key -> Nullable<Text>,
        assignee_id -> Nullable<BigInt>,
        merged_into_id -> Nullable<BigInt>,
        event_count -> BigInt,
        incident_count -> BigInt,
        source_ip_count -> BigInt,
        first_seen -> Timestamp,
        last_seen -> Timestamp,
        last_source_ip -> Nullable<Text>,
        last_original_subject -> Nullable<Text>,
        identity -> Nullable<Text>,
        outgoing_user -> Nullable<Text>,
        outgoing_domain -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        customer_replied_at -> Nullable<Timestamp>,
        customer_status -> Nullable<Text>,
    }
}

diesel::table! {
    ticket_source_ips (id) {
        id -> BigInt,
        ticket_id -> BigInt,
        source_ip -> Text,
    }
}

diesel::table! {
    reporters (reporter) {
        reporter -> Text,
    }
}

diesel::table! {
    ticket_reporters (ticket_id, reporter) {
        ticket_id -> BigInt,
        reporter -> Text,
    }
}

diesel::table! {
    events (id) {
        id -> BigInt,
        raw_message_id -> BigInt,
        ticket_id -> BigInt,
        customer_id -> Nullable<BigInt>,
        dedup_key -> Text,
        reporter -> Text,
        feedback_type -> Text,
        source_ip -> Nullable<Text>,
        original_mail_from -> Nullable<Text>,
        original_message_id -> Nullable<Text>,
        original_envelope_id -> Nullable<Text>,
        original_subject -> Nullable<Text>,
        identity -> Nullable<Text>,
        arrival_at -> Timestamp,
        created_at -> Timestamp,
        outgoing_user -> Nullable<Text>,
    }
}

diesel::table! {
    outgoing_periods (first_day, last_day, kind, class) {
        first_day -> Integer,
        last_day -> Integer,
        kind -> Text,
        class -> Text,
    }
}

diesel::table! {
    outgoing_period_totals (first_day, last_day, kind, class, key) {
        first_day -> Integer,
        last_day -> Integer,
        kind -> Text,
        class -> Text,
        key -> Text,
        events -> BigInt,
    }
}

diesel::table! {
    outgoing_counts (kind, class, key, day) {
        kind -> Text,
        class -> Text,
        day -> Integer,
        key -> Text,
        events -> BigInt,
    }
}

diesel::table! {
    notes (id) {
        id -> BigInt,
        ticket_id -> BigInt,
        author_id -> Nullable<BigInt>,
        body -> Text,
        created_at -> Timestamp,
        by_customer -> Bool,
    }
}

diesel::table! {
    actions (id) {
        id -> BigInt,
        ticket_id -> Nullable<BigInt>,
        customer_id -> Nullable<BigInt>,
        kind -> Text,
        target -> Text,
        reason -> Text,
        state -> Text,
        upstream -> Nullable<Text>,
        attempts -> Integer,
        next_attempt_at -> Nullable<Timestamp>,
        expires_at -> Nullable<Timestamp>,
        idempotency_key -> Text,
        requested_by -> Nullable<BigInt>,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        completed_at -> Nullable<Timestamp>,
        target_domain -> Nullable<Text>,
        target_user -> Nullable<Text>,
        claimed_at -> Nullable<Timestamp>,
        claimed_by -> Nullable<Text>,
        outcome -> Nullable<Text>,
        lifted_by -> Nullable<BigInt>,
    }
}

diesel::table! {
    action_attempts (id) {
        id -> BigInt,
        action_id -> BigInt,
        upstream -> Text,
        at -> Timestamp,
        duration_ms -> BigInt,
        http_status -> Nullable<Integer>,
        outcome -> Text,
        message -> Text,
    }
}

diesel::table! {
    notifications (id) {
        id -> BigInt,
        customer_id -> BigInt,
        ticket_id -> Nullable<BigInt>,
        kind -> Text,
        recipient -> Text,
        subject -> Text,
        body -> Text,
        state -> Text,
        attempts -> Integer,
        next_attempt_at -> Nullable<Timestamp>,
        sent_at -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        notice_id -> Nullable<BigInt>,
        claimed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    notices (id) {
        id -> BigInt,
        customer_id -> BigInt,
        message_id -> Text,
        requested_by -> Nullable<BigInt>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    notice_tickets (id) {
        id -> BigInt,
        notice_id -> BigInt,
        ticket_id -> BigInt,
        event_count -> BigInt,
        new_events -> BigInt,
        severity -> Text,
        why -> Text,
    }
}

diesel::table! {
    customer_tokens (id) {
        id -> BigInt,
        customer_id -> BigInt,
        ticket_id -> Nullable<BigInt>,
        token_hash -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    audit_log (id) {
        id -> BigInt,
        at -> Timestamp,
        actor_id -> Nullable<BigInt>,
        actor -> Text,
        action -> Text,
        ticket_id -> Nullable<BigInt>,
        customer_id -> Nullable<BigInt>,
        detail -> Text,
    }
}

diesel::table! {
    mailbox_state (id) {
        id -> BigInt,
        mailbox -> Text,
        uid_validity -> BigInt,
        last_uid -> BigInt,
        last_poll_at -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        updated_at -> Timestamp,
        lease_owner -> Nullable<Text>,
        lease_until -> Nullable<Timestamp>,
    }
}

diesel::joinable!(customer_identities -> customers (customer_id));
diesel::joinable!(customer_domains -> customers (customer_id));
diesel::joinable!(customer_netblocks -> customers (customer_id));
diesel::joinable!(api_tokens -> users (user_id));
diesel::joinable!(staff_sessions -> users (user_id));
diesel::joinable!(tickets -> customers (customer_id));
diesel::joinable!(tickets -> users (assignee_id));
diesel::joinable!(ticket_source_ips -> tickets (ticket_id));
diesel::joinable!(ticket_reporters -> tickets (ticket_id));
diesel::joinable!(events -> tickets (ticket_id));
diesel::joinable!(events -> raw_messages (raw_message_id));
diesel::joinable!(notes -> tickets (ticket_id));
diesel::joinable!(actions -> tickets (ticket_id));
diesel::joinable!(action_attempts -> actions (action_id));
diesel::joinable!(notifications -> customers (customer_id));
diesel::joinable!(notices -> customers (customer_id));
diesel::joinable!(notice_tickets -> notices (notice_id));
diesel::joinable!(notice_tickets -> tickets (ticket_id));
diesel::joinable!(customer_tokens -> customers (customer_id));
diesel::joinable!(audit_log -> tickets (ticket_id));

diesel::allow_tables_to_appear_in_same_query!(
    action_attempts,
    customers,
    customer_identities,
    customer_domains,
    customer_netblocks,
    users,
    api_tokens,
    staff_sessions,
    raw_messages,
    tickets,
    ticket_source_ips,
    reporters,
    ticket_reporters,
    events,
    notes,
    actions,
    notifications,
    notices,
    notice_tickets,
    customer_tokens,
    audit_log,
    mailbox_state,
);
