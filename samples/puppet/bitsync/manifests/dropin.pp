# bitsync::dropin - one bitsync manifest drop-in, managed by Puppet.
#
# A documented example (see ../../README.md); the test suite does not run it.
#
#   bitsync::dropin { '50-puppet.yaml':
#     sources => {
#       'releases' => { 'url' => 'https://releases.example.com/',
#                       'proxy' => { 'usage' => 'no_proxy' } },
#     },
#     sets    => [
#       { 'name' => 'node-exporter', 'source' => 'releases',
#         'path' => 'node_exporter/1.8.2', 'destination' => '/opt/node-exporter',
#         'files' => [ { 'path' => 'node_exporter-1.8.2.linux-amd64.tar.gz',
#                        'sha256' => '0d1e...e6' } ] },
#     ],
#   }
#
# 1. The file resource's validate_cmd runs `bitsync validate` on the new
#    content (Puppet writes it to a temporary file first and substitutes its
#    path for %).  When it fails, Puppet leaves the live drop-in untouched,
#    the resource fails with bitsync's diagnostics, and the exec below does
#    not run.  Only this file is validated; a set naming a source from
#    another drop-in needs the sources in this file too, or validation off
#    that file (validate_cmd cannot see the rest of the directory).
# 2. The exec runs `bitsync apply --wait` only when `bitsync plan
#    --detailed-exitcode` exits 2 (changes pending), so it reports a change
#    only then.  Puppet itself also reports the file resource as changed
#    whenever the file's content changes (Puppet has no way to hide that).
define bitsync::dropin (
  Hash                $sources       = {},
  Array[Hash]         $sets          = [],
  Hash                $defaults      = {},
  String              $dropin_name   = $title,
  Stdlib::Absolutepath $manifest_dir = '/etc/bitsync/manifest.d',
  Stdlib::Absolutepath $config       = '/etc/bitsync/bitsync.ini',
  Stdlib::Absolutepath $binary       = '/usr/bin/bitsync',
  String              $apply_timeout = '30m',
) {
  $dropin = "${manifest_dir}/${dropin_name}"

  file { $dropin:
    ensure       => file,
    owner        => 'root',
    group        => 'root',
    mode         => '0644',
    content      => epp('bitsync/dropin.yaml.epp', {
      'defaults' => $defaults,
      'sources'  => $sources,
      'sets'     => $sets,
    }),
    validate_cmd => "${binary} -c ${config} validate %",
  }

  exec { "bitsync apply (${dropin_name})":
    command   => "${binary} -c ${config} apply --wait --timeout ${apply_timeout}",
    onlyif    => "/bin/sh -c '${binary} -c ${config} plan --detailed-exitcode >/dev/null; test \$? -eq 2'",
    logoutput => on_failure,
    timeout   => 0,
    require   => File[$dropin],
  }
}
