process.env.LAYERFS_TEST_TRANSPORT = 'fuse-native';
