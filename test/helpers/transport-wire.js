process.env.LAYERFS_TEST_TRANSPORT = 'wire';
