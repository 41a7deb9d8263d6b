# frozen_string_literal: true

# Boots a one-file Rails application rooted at ARGV[0], whose config/initializers holds the
# generated secret_key_base.rb, and prints what Rails ends up signing cookies with.
# With --credentials, config/credentials.yml.enc first gets a secret_key_base of its own,
# as `rails new` writes one, to prove the environment wins over it.
require "json"
require "rails"
require "action_controller/railtie"

root = ARGV.fetch(0)
CREDENTIALS_SECRET = "from-credentials-#{"c" * 60}"

if ARGV.include?("--credentials")
  key_path = File.join(root, "config", "master.key")
  File.write(key_path, ActiveSupport::EncryptedConfiguration.generate_key)
  ActiveSupport::EncryptedConfiguration.new(
    config_path: File.join(root, "config", "credentials.yml.enc"), key_path: key_path,
    env_key: "RAILS_MASTER_KEY", raise_if_missing_key: true
  ).write("secret_key_base: #{CREDENTIALS_SECRET}\n")
end

class SecretHarness < Rails::Application
  config.eager_load = false
  config.logger = Logger.new(nil)
end
SecretHarness.configure do
  config.root = root
  config.credentials.content_path = Pathname(root).join("config", "credentials.yml.enc")
  config.credentials.key_path = Pathname(root).join("config", "master.key")
end

begin
  Rails.application.initialize!
rescue StandardError => e
  warn "#{e.class}: #{e.message}"
  exit 1
end

secret = Rails.application.secret_key_base
expected = ActiveSupport::KeyGenerator.new(secret, iterations: 1000).generate_key("probe", 32)
puts JSON.generate(
  secret: secret,
  credentials_secret: (Rails.application.credentials.secret_key_base rescue nil),
  # The key generator signs cookies: it must be derived from the same secret.
  key_generator_agrees: Rails.application.key_generator.generate_key("probe", 32) == expected
)
