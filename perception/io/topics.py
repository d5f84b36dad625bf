"""Topics of a drive recording (simulated or real) and of the perception outputs: names and message types."""

CAMERA_IMAGE = '/camera/image_raw'
CAMERA_INFO = '/camera/camera_info'
LIDAR_POINTS = '/lidar/points'
TF = '/tf'
TF_STATIC = '/tf_static'
CLOCK = '/clock'
GT_CAMERA_SEMANTIC = '/ground_truth/camera/semantic'
GT_CAMERA_INSTANCE = '/ground_truth/camera/instance'
GT_CAMERA_DEPTH = '/ground_truth/camera/depth'
GT_LIDAR_POINTS = '/ground_truth/lidar/points'

IMAGE = 'sensor_msgs/msg/Image'
CAMERA_INFO_TYPE = 'sensor_msgs/msg/CameraInfo'
POINT_CLOUD = 'sensor_msgs/msg/PointCloud2'
TF_MESSAGE = 'tf2_msgs/msg/TFMessage'
CLOCK_TYPE = 'rosgraph_msgs/msg/Clock'

SENSOR_TOPICS = {CAMERA_IMAGE: IMAGE, CAMERA_INFO: CAMERA_INFO_TYPE, LIDAR_POINTS: POINT_CLOUD,
                 TF_STATIC: TF_MESSAGE, TF: TF_MESSAGE, CLOCK: CLOCK_TYPE}
GROUND_TRUTH_TOPICS = {GT_CAMERA_SEMANTIC: IMAGE, GT_CAMERA_INSTANCE: IMAGE, GT_CAMERA_DEPTH: IMAGE,
                       GT_LIDAR_POINTS: POINT_CLOUD}

# perception outputs
CAMERA_LABELS = '/perception/camera/labels'
CAMERA_CONFIDENCE = '/perception/camera/confidence'
CAMERA_OVERLAY = '/perception/camera/overlay'
CAMERA_PANOPTIC = '/perception/camera/panoptic'
LIDAR_LABELED = '/perception/lidar/points'
LIDAR_ACCEPTED = '/perception/lidar/accepted'  # std_msgs/Header of each sweep the LiDAR node starts to segment
SCENE = '/perception/scene'
SCENE_MARKERS = '/perception/scene_markers'
DIAGNOSTICS = '/diagnostics'
MARKER_ARRAY = 'visualization_msgs/msg/MarkerArray'
DIAGNOSTIC_ARRAY = 'diagnostic_msgs/msg/DiagnosticArray'
OUTPUT_TOPICS = {CAMERA_LABELS: IMAGE, CAMERA_CONFIDENCE: IMAGE, CAMERA_OVERLAY: IMAGE, CAMERA_PANOPTIC: IMAGE,
                 LIDAR_LABELED: POINT_CLOUD, SCENE: POINT_CLOUD, SCENE_MARKERS: MARKER_ARRAY,
                 DIAGNOSTICS: DIAGNOSTIC_ARRAY}
