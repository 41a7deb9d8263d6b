# frozen_string_literal: true

# Sidekiq runs Active Job's jobs from Redis: REDIS_URL on Heroku (the heroku-redis add-on
# sets it), a local Redis in development. Written by copier-heroku; `copier update` keeps
# it current.
redis = { url: ENV.fetch("REDIS_URL", "redis://localhost:6379/0") }
# Heroku Redis speaks TLS (rediss://) with a self-signed certificate: the connection is
# encrypted, but the certificate cannot be verified against a public authority.
redis[:ssl_params] = { verify_mode: OpenSSL::SSL::VERIFY_NONE } if redis[:url].start_with?("rediss://")

Sidekiq.configure_server { |config| config.redis = redis }
Sidekiq.configure_client { |config| config.redis = redis }

ActiveSupport.on_load(:active_job) { self.queue_adapter = :sidekiq }
