# frozen_string_literal: true

# Reads a config/puma.rb the way `puma -C` does, with whatever Puma is installed, and
# prints the settings the deploy layer cares about as JSON. Boots nothing.
require "json"
require "puma"
require "puma/configuration"

conf = Puma::Configuration.new({}, { config_files: [ARGV.fetch(0)] })
conf.load
conf.clamp if conf.respond_to?(:clamp) # Puma 7 wants it before any option is read
options = conf.options
puts JSON.generate(
  puma: Puma::Const::PUMA_VERSION,
  workers: options[:workers].to_i,
  min_threads: options[:min_threads].to_i,
  max_threads: options[:max_threads].to_i,
  persistent_timeout: options[:persistent_timeout],
  keep_alives: options[:enable_keep_alives],
  preload_app: options[:preload_app],
  before_fork_hooks: Array(options[:before_fork]).size
)
