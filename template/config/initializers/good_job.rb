# frozen_string_literal: true

# GoodJob runs Active Job's jobs from PostgreSQL (DATABASE_URL on Heroku), in the
# `worker:` process of the Procfile, never inside the web process. Its tables come from
# `bin/rails generate good_job:install`, then `bin/rails db:migrate`. Written by
# copier-heroku; `copier update` keeps it current.
Rails.application.configure do
  config.good_job.execution_mode = :external
  config.good_job.queues = "*"
  # Each job thread holds a connection from the pool (RAILS_MAX_THREADS in
  # config/database.yml), and GoodJob keeps one more for LISTEN/NOTIFY: leave it room,
  # or jobs wait on ActiveRecord::ConnectionTimeoutError. GOOD_JOB_MAX_THREADS overrides.
  config.good_job.max_threads = Integer(ENV.fetch("GOOD_JOB_MAX_THREADS") do
    [Integer(ENV.fetch("RAILS_MAX_THREADS", 5)) - 2, 1].max
  end)
end

ActiveSupport.on_load(:active_job) { self.queue_adapter = :good_job }
