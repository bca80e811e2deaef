-- 001_initial_schema.sql: the database of the exploit-intelligence service.
--
-- The service aggregates public exploit records from several sources (sources, exploits), alerts
-- subscribers about new ones that match their preferences (users, alert_preferences, alerts_sent),
-- takes exploits submitted by the community and rewards contributors (community_submissions,
-- user_reputation), and bills the paid tiers (payments, subscription_changes). The four views feed
-- the dashboard and the health endpoint.
--
-- The otel-pg-manager runner applies this file once, in one transaction together with its
-- schema_migrations row. So there is no IF NOT EXISTS: a table that exists without a history row is
-- drift to look at, not something to paper over. Never edit this file once it has been deployed (the
-- runner refuses a changed checksum); add 002_<name>.sql instead.
--
-- Conventions: bigint identity ids (integer for the small, hand-managed sources table); timestamptz
-- everywhere; money as integer cents plus an ISO 4217 currency code; NOT NULL wherever the service
-- needs a value; each ON DELETE rule is chosen for its relationship and explained where it is declared.
-- Tables whose rows are edited in place carry updated_at, kept current by a trigger; the append-only
-- ones (alerts_sent, payments, subscription_changes) record each state change in its own timestamp.

-- Vocabularies shared by several columns: one definition each, so they cannot drift apart.
CREATE DOMAIN severity_level AS text
  CONSTRAINT severity_level_check CHECK (VALUE IN ('critical', 'high', 'medium', 'low', 'unknown'));

CREATE DOMAIN subscription_tier AS text
  CONSTRAINT subscription_tier_check CHECK (VALUE IN ('free', 'pro', 'enterprise'));

CREATE DOMAIN alert_channel AS text
  CONSTRAINT alert_channel_check CHECK (VALUE IN ('email', 'webhook', 'slack'));

-- MITRE's format: the sequence number has at least four digits and no upper bound.
CREATE DOMAIN cve_id AS text
  CONSTRAINT cve_id_check CHECK (VALUE ~ '^CVE-[0-9]{4}-[0-9]{4,}$');

-- Aggregator sources and their fetch health (the ingestion workers update the counters).
CREATE TABLE sources (
  id                   integer     GENERATED ALWAYS AS IDENTITY,
  name                 text        NOT NULL,
  base_url             text        NOT NULL,
  enabled              boolean     NOT NULL DEFAULT true,
  fetch_interval       interval    NOT NULL DEFAULT interval '15 minutes',
  last_fetch_at        timestamptz,
  last_success_at      timestamptz,
  last_error           text,
  consecutive_failures integer     NOT NULL DEFAULT 0,
  total_fetches        bigint      NOT NULL DEFAULT 0,
  failed_fetches       bigint      NOT NULL DEFAULT 0,
  created_at           timestamptz NOT NULL DEFAULT now(),
  updated_at           timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT sources_pkey PRIMARY KEY (id),
  CONSTRAINT sources_name_key UNIQUE (name),
  CONSTRAINT sources_name_check CHECK (name <> ''),
  CONSTRAINT sources_fetch_interval_check CHECK (fetch_interval > interval '0'),
  CONSTRAINT sources_counters_check CHECK (
    consecutive_failures >= 0 AND failed_fetches >= 0 AND failed_fetches <= total_fetches
  )
);

-- The main exploit records, one per (source, record in that source).
CREATE TABLE exploits (
  id           bigint         GENERATED ALWAYS AS IDENTITY,
  source_id    integer        NOT NULL,
  -- The source's own identifier (an EDB-ID, a GitHub advisory id, ...).
  external_id  text           NOT NULL,
  -- NULL: many public exploits have no CVE assigned (yet).
  cve_id       cve_id,
  title        text           NOT NULL,
  description  text,
  severity     severity_level NOT NULL DEFAULT 'unknown',
  cvss_score   numeric(3, 1),
  exploit_type text,
  platform     text,
  url          text           NOT NULL,
  -- As stated by the source; created_at is when this service first ingested the record.
  published_at timestamptz,
  created_at   timestamptz    NOT NULL DEFAULT now(),
  updated_at   timestamptz    NOT NULL DEFAULT now(),
  CONSTRAINT exploits_pkey PRIMARY KEY (id),
  -- A source is disabled, not deleted, while exploits still name it as their provenance.
  CONSTRAINT exploits_source_id_fkey FOREIGN KEY (source_id) REFERENCES sources (id) ON DELETE RESTRICT,
  -- The ingestion key: the same record from the same source is never stored twice, and the
  -- workers upsert with ON CONFLICT (source_id, external_id).
  CONSTRAINT exploits_source_external_id_key UNIQUE (source_id, external_id),
  CONSTRAINT exploits_external_id_check CHECK (external_id <> ''),
  CONSTRAINT exploits_title_check CHECK (title <> ''),
  CONSTRAINT exploits_cvss_score_check CHECK (cvss_score BETWEEN 0 AND 10)
);

-- Accounts. The API key itself is never stored, only its SHA-256.
CREATE TABLE users (
  id                bigint            GENERATED ALWAYS AS IDENTITY,
  email             text              NOT NULL,
  display_name      text,
  api_key_hash      text,
  subscription_tier subscription_tier NOT NULL DEFAULT 'free',
  -- Accounts are deactivated, not deleted, once they have payments (see payments.user_id).
  is_active         boolean           NOT NULL DEFAULT true,
  last_login_at     timestamptz,
  created_at        timestamptz       NOT NULL DEFAULT now(),
  updated_at        timestamptz       NOT NULL DEFAULT now(),
  CONSTRAINT users_pkey PRIMARY KEY (id),
  CONSTRAINT users_email_check CHECK (email ~ '^[^@[:space:]]+@[^@[:space:]]+$'),
  CONSTRAINT users_api_key_hash_check CHECK (api_key_hash ~ '^[0-9a-f]{64}$')
);

-- What each user wants to be alerted about, per delivery channel.
CREATE TABLE alert_preferences (
  user_id      bigint         NOT NULL,
  channel      alert_channel  NOT NULL,
  enabled      boolean        NOT NULL DEFAULT true,
  min_severity severity_level NOT NULL DEFAULT 'high',
  webhook_url  text,
  -- Empty means "all platforms" / "no keyword filter".
  platforms    text[]         NOT NULL DEFAULT '{}',
  keywords     text[]         NOT NULL DEFAULT '{}',
  created_at   timestamptz    NOT NULL DEFAULT now(),
  updated_at   timestamptz    NOT NULL DEFAULT now(),
  CONSTRAINT alert_preferences_pkey PRIMARY KEY (user_id, channel),
  -- Preferences mean nothing without their user.
  CONSTRAINT alert_preferences_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
  -- "Alert me about exploits of unknown severity or worse" would mean "everything": say 'low'.
  CONSTRAINT alert_preferences_min_severity_check CHECK (min_severity <> 'unknown'),
  CONSTRAINT alert_preferences_webhook_url_check CHECK (channel <> 'webhook' OR webhook_url IS NOT NULL)
);

-- Alert delivery tracking: one row per (user, exploit, channel), from queued to sent or failed.
CREATE TABLE alerts_sent (
  id         bigint        GENERATED ALWAYS AS IDENTITY,
  user_id    bigint        NOT NULL,
  exploit_id bigint        NOT NULL,
  channel    alert_channel NOT NULL,
  status     text          NOT NULL DEFAULT 'pending',
  attempts   integer       NOT NULL DEFAULT 0,
  last_error text,
  sent_at    timestamptz,
  created_at timestamptz   NOT NULL DEFAULT now(),
  CONSTRAINT alerts_sent_pkey PRIMARY KEY (id),
  -- Delivery rows are operational records, not an audit trail: they go with their user or exploit.
  CONSTRAINT alerts_sent_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
  CONSTRAINT alerts_sent_exploit_id_fkey FOREIGN KEY (exploit_id) REFERENCES exploits (id) ON DELETE CASCADE,
  -- A retried fan-out job must not alert anyone twice about the same exploit on the same channel.
  CONSTRAINT alerts_sent_delivery_key UNIQUE (user_id, exploit_id, channel),
  CONSTRAINT alerts_sent_status_check CHECK (status IN ('pending', 'sent', 'failed')),
  CONSTRAINT alerts_sent_attempts_check CHECK (attempts >= 0),
  CONSTRAINT alerts_sent_sent_at_check CHECK ((status = 'sent') = (sent_at IS NOT NULL))
);

-- Exploits submitted by users, reviewed by moderators, published as exploits when approved.
CREATE TABLE community_submissions (
  id           bigint         GENERATED ALWAYS AS IDENTITY,
  -- NULL once the submitter's account is deleted: the submission and its review history stay.
  submitter_id bigint,
  cve_id       cve_id,
  title        text           NOT NULL,
  description  text           NOT NULL,
  poc_url      text           NOT NULL,
  -- As claimed by the submitter; the published exploit carries the reviewed severity.
  severity     severity_level NOT NULL,
  status       text           NOT NULL DEFAULT 'pending',
  reviewer_id  bigint,
  review_notes text,
  reviewed_at  timestamptz,
  exploit_id   bigint,
  created_at   timestamptz    NOT NULL DEFAULT now(),
  updated_at   timestamptz    NOT NULL DEFAULT now(),
  CONSTRAINT community_submissions_pkey PRIMARY KEY (id),
  CONSTRAINT community_submissions_submitter_id_fkey FOREIGN KEY (submitter_id) REFERENCES users (id) ON DELETE SET NULL,
  CONSTRAINT community_submissions_reviewer_id_fkey FOREIGN KEY (reviewer_id) REFERENCES users (id) ON DELETE SET NULL,
  -- Removing a published exploit leaves the submission, marked as no longer published.
  CONSTRAINT community_submissions_exploit_id_fkey FOREIGN KEY (exploit_id) REFERENCES exploits (id) ON DELETE SET NULL,
  CONSTRAINT community_submissions_status_check CHECK (status IN ('pending', 'approved', 'rejected', 'duplicate')),
  CONSTRAINT community_submissions_title_check CHECK (title <> ''),
  CONSTRAINT community_submissions_reviewed_check CHECK ((status = 'pending') = (reviewed_at IS NULL))
);

-- Contributor reputation, recomputed from community_submissions by a periodic job.
CREATE TABLE user_reputation (
  user_id              bigint      NOT NULL,
  score                integer     NOT NULL DEFAULT 0,
  submissions_approved integer     NOT NULL DEFAULT 0,
  submissions_rejected integer     NOT NULL DEFAULT 0,
  recalculated_at      timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT user_reputation_pkey PRIMARY KEY (user_id),
  -- Derived data: it goes with the user.
  CONSTRAINT user_reputation_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
  CONSTRAINT user_reputation_counts_check CHECK (submissions_approved >= 0 AND submissions_rejected >= 0)
);

-- Payment history, as reported by the payment provider's webhooks.
CREATE TABLE payments (
  id                  bigint            GENERATED ALWAYS AS IDENTITY,
  user_id             bigint            NOT NULL,
  amount_cents        bigint            NOT NULL,
  currency            char(3)           NOT NULL DEFAULT 'USD',
  -- The tier this payment bought.
  tier                subscription_tier NOT NULL,
  status              text              NOT NULL DEFAULT 'pending',
  provider            text              NOT NULL,
  provider_payment_id text              NOT NULL,
  paid_at             timestamptz,
  refunded_at         timestamptz,
  created_at          timestamptz       NOT NULL DEFAULT now(),
  CONSTRAINT payments_pkey PRIMARY KEY (id),
  -- Financial records must be kept: a user with payments cannot be deleted, only deactivated.
  CONSTRAINT payments_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE RESTRICT,
  -- Providers retry webhooks: the same provider payment is recorded once.
  CONSTRAINT payments_provider_payment_key UNIQUE (provider, provider_payment_id),
  CONSTRAINT payments_amount_cents_check CHECK (amount_cents > 0),
  CONSTRAINT payments_currency_check CHECK (currency ~ '^[A-Z]{3}$'),
  CONSTRAINT payments_status_check CHECK (status IN ('pending', 'succeeded', 'failed', 'refunded')),
  CONSTRAINT payments_paid_at_check CHECK (status NOT IN ('succeeded', 'refunded') OR paid_at IS NOT NULL),
  CONSTRAINT payments_refunded_at_check CHECK ((status = 'refunded') = (refunded_at IS NOT NULL))
);

-- Audit trail of subscription tier changes.
CREATE TABLE subscription_changes (
  id         bigint            GENERATED ALWAYS AS IDENTITY,
  user_id    bigint            NOT NULL,
  from_tier  subscription_tier NOT NULL,
  to_tier    subscription_tier NOT NULL,
  reason     text              NOT NULL,
  -- The payment that caused the change, when one did.
  payment_id bigint,
  changed_at timestamptz       NOT NULL DEFAULT now(),
  CONSTRAINT subscription_changes_pkey PRIMARY KEY (id),
  -- An audit trail outlives nothing it describes: users and payments behind it are kept.
  CONSTRAINT subscription_changes_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE RESTRICT,
  CONSTRAINT subscription_changes_payment_id_fkey FOREIGN KEY (payment_id) REFERENCES payments (id) ON DELETE RESTRICT,
  CONSTRAINT subscription_changes_tiers_check CHECK (from_tier <> to_tier),
  CONSTRAINT subscription_changes_reason_check CHECK (
    reason IN ('upgrade', 'downgrade', 'cancellation', 'payment_failed', 'admin')
  )
);

-- Indexes. Primary keys and unique constraints above have their own; each one below names the
-- view or API query it serves.

-- v_recent_exploits and v_stats_24h: the newest exploits, read backwards from the end of the index.
CREATE INDEX idx_exploits_created_at ON exploits (created_at DESC, id DESC);
-- GET /exploits?cve=...: most exploits have no CVE, so those rows stay out of the index.
CREATE INDEX idx_exploits_cve_id ON exploits (cve_id) WHERE cve_id IS NOT NULL;
-- GET /exploits?severity=critical, newest first.
CREATE INDEX idx_exploits_severity_created_at ON exploits (severity, created_at DESC);
-- v_source_health (per-source counts and latest exploit); also serves the foreign key.
CREATE INDEX idx_exploits_source_id_created_at ON exploits (source_id, created_at DESC);
-- GET /exploits/search?q=...: full-text search over title and description.
CREATE INDEX idx_exploits_search ON exploits
  USING gin (to_tsvector('english', title || ' ' || coalesce(description, '')));

-- Sign-in by e-mail, case-insensitively; also makes e-mail addresses unique regardless of case.
CREATE UNIQUE INDEX uq_users_email_lower ON users (lower(email));
-- API authentication by key hash, for the users who have a key.
CREATE UNIQUE INDEX uq_users_api_key_hash ON users (api_key_hash) WHERE api_key_hash IS NOT NULL;
-- v_user_stats (index-only scan) and the admin's user list per tier.
CREATE INDEX idx_users_subscription_tier ON users (subscription_tier, is_active);
-- v_stats_24h and v_user_stats: sign-ups in a recent window.
CREATE INDEX idx_users_created_at ON users (created_at);

-- Alert fan-out: the enabled preferences whose threshold a new exploit reaches.
CREATE INDEX idx_alert_preferences_min_severity ON alert_preferences (min_severity) WHERE enabled;

-- A user's alert history, newest first.
CREATE INDEX idx_alerts_sent_user_id_created_at ON alerts_sent (user_id, created_at DESC);
-- Serves the foreign key: deleting an exploit cascades here.
CREATE INDEX idx_alerts_sent_exploit_id ON alerts_sent (exploit_id);
-- v_stats_24h: deliveries in the last 24 hours.
CREATE INDEX idx_alerts_sent_created_at ON alerts_sent (created_at);
-- The delivery worker's queue: small, because delivered rows leave it.
CREATE INDEX idx_alerts_sent_pending ON alerts_sent (created_at) WHERE status = 'pending';

-- The moderators' review queue, oldest first.
CREATE INDEX idx_community_submissions_status_created_at ON community_submissions (status, created_at);
-- "My submissions"; also serves the foreign key's ON DELETE SET NULL.
CREATE INDEX idx_community_submissions_submitter_id ON community_submissions (submitter_id);

-- The contributors' leaderboard.
CREATE INDEX idx_user_reputation_score ON user_reputation (score DESC);

-- A user's billing history, newest first; also serves the foreign key.
CREATE INDEX idx_payments_user_id_created_at ON payments (user_id, created_at DESC);

-- A user's tier history, newest first; also serves the foreign key.
CREATE INDEX idx_subscription_changes_user_id_changed_at ON subscription_changes (user_id, changed_at DESC);

-- updated_at follows every real change; an UPDATE that changes nothing leaves it alone.
CREATE FUNCTION set_updated_at() RETURNS trigger
  LANGUAGE plpgsql
AS $$
BEGIN
  NEW.updated_at := now();
  RETURN NEW;
END
$$;

CREATE TRIGGER trg_sources_updated_at BEFORE UPDATE ON sources
  FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER trg_exploits_updated_at BEFORE UPDATE ON exploits
  FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER trg_users_updated_at BEFORE UPDATE ON users
  FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER trg_alert_preferences_updated_at BEFORE UPDATE ON alert_preferences
  FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER trg_community_submissions_updated_at BEFORE UPDATE ON community_submissions
  FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION set_updated_at();

-- The latest 100 exploits, newest first (the dashboard and GET /exploits/recent).
CREATE VIEW v_recent_exploits AS
SELECT e.id,
       e.cve_id,
       e.title,
       e.severity,
       e.cvss_score,
       e.exploit_type,
       e.platform,
       e.url,
       e.published_at,
       e.created_at,
       s.name AS source_name
  FROM exploits e
  JOIN sources s ON s.id = e.source_id
 ORDER BY e.created_at DESC, e.id DESC
 LIMIT 100;

-- Activity over the last 24 hours, as one row (the dashboard and the health endpoint).
CREATE VIEW v_stats_24h AS
SELECT count(*)                                         AS exploits_total,
       count(*) FILTER (WHERE e.severity = 'critical')  AS exploits_critical,
       count(*) FILTER (WHERE e.severity = 'high')      AS exploits_high,
       count(*) FILTER (WHERE e.severity = 'medium')    AS exploits_medium,
       count(*) FILTER (WHERE e.severity = 'low')       AS exploits_low,
       count(*) FILTER (WHERE e.severity = 'unknown')   AS exploits_unknown,
       count(DISTINCT e.cve_id)                         AS distinct_cves,
       count(DISTINCT e.source_id)                      AS active_sources,
       (SELECT count(*) FROM alerts_sent a
         WHERE a.created_at >= now() - interval '24 hours' AND a.status = 'sent')   AS alerts_sent,
       (SELECT count(*) FROM alerts_sent a
         WHERE a.created_at >= now() - interval '24 hours' AND a.status = 'failed') AS alerts_failed,
       (SELECT count(*) FROM users u
         WHERE u.created_at >= now() - interval '24 hours')                          AS new_users
  FROM exploits e
 WHERE e.created_at >= now() - interval '24 hours';

-- Per-source reliability (the health endpoint and the sources admin page). A source is 'failing'
-- after three failed fetches in a row, and 'stale' when it has not succeeded for four of its fetch
-- intervals (at least an hour).
CREATE VIEW v_source_health AS
SELECT s.id,
       s.name,
       s.enabled,
       s.last_fetch_at,
       s.last_success_at,
       s.last_error,
       s.consecutive_failures,
       s.total_fetches,
       s.failed_fetches,
       round(100.0 * (s.total_fetches - s.failed_fetches) / nullif(s.total_fetches, 0), 1) AS success_rate_pct,
       (SELECT count(*) FROM exploits e
         WHERE e.source_id = s.id AND e.created_at >= now() - interval '24 hours')      AS exploits_24h,
       (SELECT max(e.created_at) FROM exploits e WHERE e.source_id = s.id)            AS last_exploit_at,
       CASE
         WHEN NOT s.enabled THEN 'disabled'
         WHEN s.consecutive_failures >= 3 THEN 'failing'
         WHEN s.last_success_at IS NULL
           OR s.last_success_at < now() - greatest(s.fetch_interval * 4, interval '1 hour') THEN 'stale'
         ELSE 'healthy'
       END                                                                            AS status
  FROM sources s;

-- Users per subscription tier (the business dashboard).
CREATE VIEW v_user_stats AS
SELECT u.subscription_tier,
       count(*)                                                           AS users,
       count(*) FILTER (WHERE u.is_active)                                AS active_users,
       count(*) FILTER (WHERE u.created_at >= now() - interval '30 days') AS new_users_30d
  FROM users u
 GROUP BY u.subscription_tier;
