# site.pp - an example node definition using bitsync::dropin.
# Documented example, not run by the test suite (see README.md).
node default {
  package { 'bitsync':
    ensure => installed,             # the .deb, from your own apt repository
  }

  bitsync::dropin { '50-puppet.yaml':
    defaults => { 'refresh' => '6h' },
    sources  => {
      'releases' => {
        'url'   => 'https://releases.example.com/',
        'proxy' => { 'usage' => 'no_proxy' },
      },
    },
    sets     => [
      {
        'name'        => 'node-exporter',
        'source'      => 'releases',
        'path'        => 'node_exporter/1.8.2',
        'destination' => '/opt/node-exporter',
        'files'       => [
          {
            'path'   => 'node_exporter-1.8.2.linux-amd64.tar.gz',
            'as'     => 'node_exporter.tar.gz',
            # Placeholder: the hash of your file (sha256sum FILE).
            'sha256' => '0d1e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6',
          },
        ],
      },
    ],
    require  => Package['bitsync'],
  }
}
